"Fixtures that several test modules use."
import pytest
import torch


@pytest.fixture
def one_torch_thread():
    "For tiny problems, where a second thread only adds waits (up to 20× slower on a busy machine)."
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
