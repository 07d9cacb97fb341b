"""Running a plan: the runner, the bench every driver call goes through, interlocks, steps."""
