import math

import pytest

from breastmri.slices.parallel import ordered_map, worker_pool


@pytest.mark.parametrize("workers", [1, 2])
def test_results_in_input_order_and_errors_propagate(workers):
    items = [(2, k) for k in range(9)]
    with worker_pool(workers) as pool:
        assert list(ordered_map(pow, items, pool, progress=False, max_in_flight=3)) == [2 ** k for k in range(9)]
        with pytest.raises(ValueError):
            list(ordered_map(math.sqrt, [(4.0,), (-1.0,), (9.0,)], pool, progress=False))
