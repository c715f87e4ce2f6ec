package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/ferry-ci/ferry/pipeline/config"
)

// attempt runs the stage with its timeout, retrying the stages config.Retryable names with
// exponential backoff.
func (e *Engine) attempt(ctx context.Context, job *Job, impl Stage, log io.Writer) error {
	opts := e.Config.StageOptionsFor(job.Stage.Kind())
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = config.DefaultStageTimeout
	}
	retries := 0
	if config.Retryable(job.Stage.Kind()) {
		retries = opts.Retries
	}
	once := func() error {
		actx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		*job.Outputs = Outputs{}
		err := impl.Run(actx, job)
		if err != nil && errors.Is(actx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("timed out after %s: %w", timeout, err)
		}
		return err
	}
	if retries == 0 {
		return once()
	}
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = e.RetryInterval
	if b.InitialInterval == 0 {
		b.InitialInterval = time.Second
	}
	b.MaxInterval = 30 * time.Second
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		err := once()
		var se *SkipError
		var we *WaitError
		switch {
		case err == nil:
			return struct{}{}, nil
		case errors.Is(err, ErrPermanent), errors.As(err, &se), errors.As(err, &we), ctx.Err() != nil:
			return struct{}{}, backoff.Permanent(err)
		}
		job.Attempt++
		fmt.Fprintf(log, "attempt failed: %v\n", e.mask(err.Error()))
		return struct{}{}, err
	},
		backoff.WithBackOff(b),
		backoff.WithMaxTries(uint(retries+1)),
		backoff.WithMaxElapsedTime(0),
		backoff.WithNotify(func(err error, d time.Duration) { fmt.Fprintf(log, "retrying in %s\n", d.Round(time.Millisecond)) }),
	)
	return err
}
