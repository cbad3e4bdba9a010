"""Stage `midtrain`: next-token training from a checkpoint on the mid-training mix (paper §5, A.10).

Same glue as pre-training (`lm.init` names the starting checkpoint; tokens come from the compute split).
"""

from __future__ import annotations

from stages import main
from stages.pretrain import run

if __name__ == "__main__":
    main("midtrain", run)
