"""interplay: reference reproduction of Zhang, Neubig & Yue (arXiv 2512.07783).

Pre-training, mid-training and GRPO on synthetic dependency-graph word problems, evaluated with
process-verified pass@k. See README.md and specs/ for the findings reproduced.
"""

__version__ = "0.1.0"
