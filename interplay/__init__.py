"""interplay: reference reproduction of Zhang, Neubig & Yue (arXiv 2512.07783).

Pre-training, mid-training and GRPO on synthetic dependency-graph word problems, evaluated with
process-verified pass@k. See README.md and specs/ for the findings reproduced.
"""

__version__ = "0.1.0"


def load(checkpoint, device=None):
    """(model, tokenizer) from a checkpoint directory written by interplay (a run's `model/`): the HF Qwen2
    model in eval mode and our tokenizer. See `interplay.checkpoint`."""
    from interplay.checkpoint import load as _load

    return _load(checkpoint, device)
