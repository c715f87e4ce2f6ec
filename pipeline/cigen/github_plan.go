package cigen

// planJob runs ferry plan, whose outputs drive the matrix.
func (g *githubGen) planJob() *mapping {
	return newMap().
		add("runs-on", "ubuntu-latest").
		add("timeout-minutes", 15).
		add("permissions", newMap().add("contents", "read")).
		add("outputs", newMap().
			add("matrix", "${{ steps.plan.outputs.matrix }}").
			add("count", "${{ steps.plan.outputs.count }}").
			add("services", "${{ steps.plan.outputs.services }}")).
		add("steps", seq(
			// The default depth 1 is enough: Ferry fetches the commit a diff starts from (or
			// deepens a PR's history to its merge-base) with the credentials checkout persists.
			checkoutStep("Ferry fetches what depth 1 lacks with these"),
			g.ferryStep("plan", "plan", "", nil, "", nil),
		))
}
