"""The ONNX backend node suite with providers=["embedded_c", "cpu"]: the embedded C provider takes
what it can run exactly and refuses the rest (by op, dtype, attributes, shapes), so the suite passes
as it does on the cpu provider alone: the same expected failures and the same exclusions as
tests/test_conformance.py (no extra failures file). About 30 s (the C library is built once and
cached), so not marked slow.
"""

from __future__ import annotations

import pytest

from providers.embedded_c import EmbeddedCExecutionProvider
from tests.test_conformance import provider_backend_test

pytestmark = pytest.mark.skipif(not EmbeddedCExecutionProvider.is_available(), reason="no C compiler")

backend_test = provider_backend_test(["embedded_c", "cpu"], __name__)

globals().update(backend_test.test_cases)
