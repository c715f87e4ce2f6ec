package evidence

import (
	"github.com/ferry-ci/ferry/pipeline/config"
	pev "github.com/ferry-ci/ferry/pipeline/evidence"
)

// PolicyOf is the part of an environment's approval policy that the approvals evidence
// records and ferry verify judges again from the registry: the requester and the authors
// are the gate's to exclude, from the run and the history, which the registry does not hold.
func PolicyOf(a *config.Approval) pev.Policy {
	p := pev.Policy{Signed: a.Signed, MinApprovals: a.MinApprovals, Approvers: a.Approvers, AllowedSigners: a.AllowedSigners}
	for _, g := range a.Groups {
		p.Groups = append(p.Groups, pev.Group{Name: g.Name, Principals: g.Principals, Min: g.Min})
	}
	return p
}
