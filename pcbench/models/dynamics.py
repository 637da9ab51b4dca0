"""Two recurrent families besides predictive coding, on ``digits`` (weights ship with pcbench).

Both are *recurrent variants* (``variant = "recurrent"``): self-contained networks that map
normalised images ``[B, 3, 32, 32]`` to logits ``[T + 1, B, classes]`` from one unroll, read
out at every step, each paired with a feedforward ``base`` (docs/dynamics.md).

``digits-hgru`` -- ``digits-cnn``'s first stage (conv 3→16, ReLU, max-pool: X, 16×16×16),
then a horizontal gated recurrent unit (hGRU; Linsley et al. 2018, NeurIPS, "Learning
long-range spatial dependencies with horizontal gated recurrent units"), then the rest of
``digits-cnn`` as the read-out of H⁽²⁾ at every step. One step (ξ = ReLU, σ the logistic,
``*`` a 5×5 convolution with the shared horizontal kernel W, U 1×1 convolutions)::

    G1 = σ(U1 * H2[t-1] + b1)                 C1 = W * (G1 ⊙ H2[t-1])
    H1 = ξ(X − ξ((α H2[t-1] + μ) ⊙ C1))        (inhibition)
    G2 = σ(U2 * H1 + b2)                      C2 = W * H1
    H̃2 = ξ(κ H1 + β C2 + ω H1 ⊙ C2)            (excitation)
    H2[t] = (1 − G2) ⊙ H2[t-1] + G2 ⊙ H̃2

with H2[0] = X, so timestep 0 is exactly ``digits-cnn`` (its base).

``digits-kuramoto`` -- amplitudes a = maxpool(ReLU(conv(x))) (16×16×16) carry a phase θ per
position, drawn uniformly from [0, 2π) by torch's global generator at every forward (so the
model is stochastic and a seeded caller reproduces it). The phases evolve by Kuramoto
coupling (Kuramoto 1975; as in KomplexNet, Muzellec et al. 2024, and the Kuramoto-based
object-discovery models, Löwe et al. 2022/2023) through a learned kernel K (5×5, 16→1)::

    θ[t+1] = θ[t] + ε Σ_j K_ij a_j sin(θ_j − θ_i) = θ[t] + ε Im(e^{−iθ} ⊙ (K * (a e^{iθ})))

and the complex field z = a e^{iθ[t]} is read out at every step by a complex-valued
convolution with real kernels V (|V * z|: contributions cancel where neighbouring phases
disagree), a bias, ReLU, max-pool, a real conv block and a linear layer. Its base
``digits-kuramoto-base`` is the same network without coupling, its phases all equal (θ ≡ 0,
the synchronised state): |V * a|, deterministic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from pcbench.models.digits import digits_cnn

#: Horizontal kernel side of the hGRU and of the Kuramoto coupling.
KERNEL = 5
#: Default unroll of both families (like ``digits-pcnn``).
TIMESTEPS = 10
#: The shipped weight files, in ``pcbench/models/weights/``.
HGRU_WEIGHTS = "digits-hgru.pt"
KURAMOTO_WEIGHTS = "digits-kuramoto.pt"
KURAMOTO_BASE_WEIGHTS = "digits-kuramoto-base.pt"


@dataclass(frozen=True)
class Reference:
    """What a model card says about a model built from a paper: the paper, and what pcbench
    simplified."""

    paper: str
    simplified: str


REFERENCES = {
    "digits-hgru": Reference(
        "Linsley, Kim, Veerabadran, Windolf & Serre (2018), Learning long-range spatial dependencies with "
        "horizontal gated recurrent units, NeurIPS; fGRU: Linsley, Kim, Ashok & Serre (2020), Recurrent neural "
        "circuits for contour detection, ICLR",
        "one hGRU after digits-cnn's first stage (16 channels, 16×16); 5×5 horizontal kernel (paper: 15×15), "
        "not constrained symmetric; no batch norm and no per-step gain η_t; H2[0] = X (timestep 0 is "
        "digits-cnn); digits-cnn's weights frozen, only the hGRU trained (cross-entropy at every step 1..T)",
    ),
    "digits-kuramoto": Reference(
        "Kuramoto (1975) coupled oscillators; Muzellec, Alamia, Serre & VanRullen (2024), Enhancing deep neural "
        "networks through complex-valued representations and Kuramoto synchronization dynamics (KomplexNet); "
        "Löwe, Lippe, Rudolph & Welling (2022), Complex-valued autoencoders for object discovery, TMLR",
        "one phase per position of the first stage's 16×16 map (not per pixel of the image); a learned 5×5 "
        "coupling kernel weighted by the amplitudes; only the first read-out convolution is complex-valued "
        "(|V * z|), the rest reads magnitudes; the base (phases all 0) trained first, then frozen, and only "
        "the coupling trained (cross-entropy at every step 1..T); random initial phases at every forward",
    ),
}
REFERENCES["digits-kuramoto-base"] = REFERENCES["digits-kuramoto"]


class HGRUCell(nn.Module):
    """One hGRU (inhibition, then gated excitation) on ``channels`` feature maps."""

    def __init__(self, channels: int, kernel: int = KERNEL) -> None:
        super().__init__()
        self.horizontal = nn.Parameter(torch.randn(channels, channels, kernel, kernel) * 0.02)
        self.gain = nn.Conv2d(channels, channels, 1)  # U1, b1
        self.mix = nn.Conv2d(channels, channels, 1)  # U2, b2
        shape = (1, channels, 1, 1)
        self.alpha = nn.Parameter(torch.full(shape, 0.1))
        self.mu = nn.Parameter(torch.full(shape, 0.1))
        self.kappa = nn.Parameter(torch.full(shape, 0.5))
        self.beta = nn.Parameter(torch.full(shape, 0.5))
        self.omega = nn.Parameter(torch.full(shape, 0.1))

    def _horizontal(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.conv2d(x, self.horizontal, padding=self.horizontal.shape[-1] // 2)

    def forward(self, drive: torch.Tensor, h2: torch.Tensor) -> torch.Tensor:
        """H2[t] from the feedforward drive X and H2[t-1]."""
        relu = torch.relu
        c1 = self._horizontal(torch.sigmoid(self.gain(h2)) * h2)
        h1 = relu(drive - relu((self.alpha * h2 + self.mu) * c1))
        g2 = torch.sigmoid(self.mix(h1))
        c2 = self._horizontal(h1)
        candidate = relu(self.kappa * h1 + self.beta * c2 + self.omega * h1 * c2)
        return (1 - g2) * h2 + g2 * candidate


class HGRUNet(nn.Module):
    """``digits-hgru``: ``digits-cnn`` with an hGRU after its first stage, unrolled for
    ``timesteps`` steps; logits ``[T + 1, B, classes]`` (timestep 0 is ``digits-cnn``).

    Example::

        net = HGRUNet(num_classes=10, timesteps=4)
        net(torch.zeros(2, 3, 32, 32)).shape   # torch.Size([5, 2, 10])
    """

    def __init__(self, num_classes: int = 10, timesteps: int = TIMESTEPS) -> None:
        super().__init__()
        self.timesteps = timesteps
        self.cnn = digits_cnn(num_classes)
        self.hgru = HGRUCell(16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features, flatten, head = self.cnn
        drive = features[:3](x)
        h2, logits = drive, []
        for t in range(self.timesteps + 1):
            if t > 0:
                h2 = self.hgru(drive, h2)
            logits.append(head(flatten(features[3:](h2))))
        return torch.stack(logits)


class KuramotoNet(nn.Module):
    """``digits-kuramoto`` (``coupling=True``) and its base (``coupling=False``: phases 0,
    logits ``[B, classes]``).

    With coupling, the initial phases are uniform on [0, 2π), drawn from torch's global
    generator at every forward; logits ``[T + 1, B, classes]``.

    Example::

        torch.manual_seed(0)
        KuramotoNet(timesteps=3)(torch.zeros(2, 3, 32, 32)).shape   # torch.Size([4, 2, 10])
    """

    def __init__(
        self, num_classes: int = 10, timesteps: int = TIMESTEPS, coupling: bool = True, step: float = 1.0
    ) -> None:
        super().__init__()
        self.timesteps = timesteps if coupling else 0
        self.step = step
        self.amplitude = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.complex_conv = nn.Conv2d(16, 32, 3, padding=1, bias=False)  # V, applied to Re and Im
        self.complex_bias = nn.Parameter(torch.zeros(1, 32, 1, 1))
        self.readout = nn.Sequential(
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(64 * 4 * 4, num_classes),
        )
        self.coupling: nn.Parameter | None = None  # K; none in the base (not in its state dict)
        if coupling:
            self.coupling = nn.Parameter(torch.full((1, 16, KERNEL, KERNEL), 1.0 / (16 * KERNEL * KERNEL)))

    def _read(self, real: torch.Tensor, imaginary: torch.Tensor) -> torch.Tensor:
        """Logits from the complex field ``real + i imaginary`` (|V * z|, then real layers)."""
        magnitude = torch.sqrt(self.complex_conv(real) ** 2 + self.complex_conv(imaginary) ** 2 + 1e-8)
        return self.readout(torch.relu(magnitude + self.complex_bias))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.amplitude(x)
        if self.coupling is None:
            return self._read(a, torch.zeros_like(a))
        batch, _, height, width = a.shape
        theta = 2 * math.pi * torch.rand(batch, 1, height, width, device=a.device, dtype=a.dtype)
        padding = KERNEL // 2
        logits = []
        for t in range(self.timesteps + 1):
            cos, sin = torch.cos(theta), torch.sin(theta)
            real, imaginary = a * cos, a * sin
            logits.append(self._read(real, imaginary))
            if t < self.timesteps:
                field_re = nn.functional.conv2d(real, self.coupling, padding=padding)
                field_im = nn.functional.conv2d(imaginary, self.coupling, padding=padding)
                theta = theta + self.step * (field_im * cos - field_re * sin)  # Im(e^{-iθ} (K * z))
        return torch.stack(logits)


def digits_hgru(num_classes: int = 10, timesteps: int = TIMESTEPS) -> nn.Module:
    """The ``digits-hgru`` architecture (see :class:`HGRUNet`)."""
    return HGRUNet(num_classes, timesteps)


def digits_kuramoto(num_classes: int = 10, timesteps: int = TIMESTEPS) -> nn.Module:
    """The ``digits-kuramoto`` architecture (see :class:`KuramotoNet`)."""
    return KuramotoNet(num_classes, timesteps)


def digits_kuramoto_base(num_classes: int = 10) -> nn.Module:
    """``digits-kuramoto-base``: :class:`KuramotoNet` without coupling (phases 0)."""
    return KuramotoNet(num_classes, coupling=False)
