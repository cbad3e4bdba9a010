"""Pre-/mid-training (`run_lm`) and GRPO (`run_rl`)."""


class Diverged(RuntimeError):
    """Training produced a non-finite value (`divergence.DivergenceGuard`); the message is one line naming the step.

    Defined here, not beside the callback, so callers can catch it without importing Lightning."""
