"""PyTorch references the parity tests share (Debian's python3-torch)."""
import torch
import torch.nn.functional as F


class MLP(torch.nn.Module):
    """examples/mlp.mlir in PyTorch: 784-1024-1024-10, ReLU, cross-entropy;
    state_dict keys fc1.weight, ..., fc3.bias."""

    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(784, 1024)
        self.fc2 = torch.nn.Linear(1024, 1024)
        self.fc3 = torch.nn.Linear(1024, 10)

    def forward(self, x, y):
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return F.cross_entropy(self.fc3(x), y)
