# The side effect of one stage, done the way real stages must do it: check, then act.
#
# Ferry sets FERRY_SERVICE and FERRY_STAGE; the crash test sets CRASH_DIR (outside the
# repository, so that the sources stay clean) and, to stop a stage in the middle,
# CRASH_BLOCK=<service>-<stage>:before|after: the stage writes its pid to $CRASH_DIR/blocked.pid
# and waits for $CRASH_DIR/release before or after its effect (or until $CRASH_DIR is gone: a
# failed test must not leave it behind).
#
#   $CRASH_DIR/invocations.log   one line per invocation: <service>-<stage>
#   $CRASH_DIR/effects/<service>-<stage>.<pid>   the effect: one atomic mkdir, named by the
#                                                invocation that made it, so doing it twice
#                                                leaves two entries
# CRASH_IGNORE_TERM=1 makes the stage ignore SIGTERM, noting it in $CRASH_DIR/got-term, as a
# tool that does not stop when asked would.
set -eu
name="$FERRY_SERVICE-$FERRY_STAGE"
if [ "${CRASH_IGNORE_TERM:-}" = 1 ]; then
	trap 'touch "$CRASH_DIR/got-term"' TERM
fi
echo "$name" >>"$CRASH_DIR/invocations.log"

block() {
	if [ "${CRASH_BLOCK:-}" = "$name:$1" ]; then
		echo $$ >"$CRASH_DIR/blocked.pid.tmp"
		mv "$CRASH_DIR/blocked.pid.tmp" "$CRASH_DIR/blocked.pid"
		while [ ! -e "$CRASH_DIR/release" ]; do
			[ -d "$CRASH_DIR" ] || exit 1
			sleep 0.02 || true # a signalled sleep must not end the script (set -e)
		done
	fi
}

for done in "$CRASH_DIR/effects/$name".*; do
	if [ -d "$done" ]; then
		echo "$name: already done (${done##*/})"
		exit 0
	fi
done
block before
mkdir "$CRASH_DIR/effects/$name.$$"
echo "$name: done"
block after
