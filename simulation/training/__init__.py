"""On-call drills on a live model (`outage-sim drill`, docs/drills.md).

- `section`: the `drill:` scenario section (alerts from level conditions, hints by difficulty);
- `engine`: a prepared scenario advanced step by step, the trainee's commands carried out;
- `investigate`, `screens`, `tui`: what the trainee sees (rich, 80x24);
- `script`: timed commands (scripted drills, recordings, replay);
- `impact`, `debrief`: scores against the historical run and counterfactuals;
- `session`: one drill from the command line, written as a normal run directory.
"""
