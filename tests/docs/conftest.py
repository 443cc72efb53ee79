"""tests/docs uses the chart helpers of tests/helm (helm binary, rendering, schemas)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helm"))
