import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # Tiny models gain nothing from a second thread, and on an oversubscribed CPU every OpenMP barrier waits for a
    # descheduled sibling (0.1 s steps measured turning into 1-3 s ones). Restored for the other test folders.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
