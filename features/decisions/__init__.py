"""The decision rules: recommended action and deadline for a denial, and the plan of a day's appeal work.

One module set that serving (the queue a team works) and training (the replay that judges the planner)
both import, so the policy that is judged is the policy that serves."""
