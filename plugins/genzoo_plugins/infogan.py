"""InfoGAN: Chen, Duan, Houthooft, Schulman, Sutskever & Abbeel 2016, "InfoGAN: Interpretable Representation Learning
by Information Maximizing Generative Adversarial Nets", arXiv:1606.03657, as in the paper's MNIST setup and the
authors' code (openai/InfoGAN: ``launchers/run_mnist_exp.py``, ``infogan/models/regularized_gan.py``,
``infogan/algos/infogan_trainer.py``).

A GAN whose latent input holds named codes, and a recognition network Q that recovers them from the generated image:
maximising a lower bound of the mutual information between the codes and the image makes the codes mean something
(on MNIST, without labels, the categorical code comes to pick the digit and the continuous ones its slant and
width).

The prior (:meth:`InfoGANGenerator.prior`, zoo's prior hook: what :meth:`zoo.Generator.sample`, the bench and
``zoo sample`` draw), ``z [N, 74]`` at the defaults, in the authors' order:

* ``noise_dim`` (62) noise variables, uniform in ``[-1, 1]`` (the authors' ``Uniform(62)``);
* ``c1``: a categorical code of ``categories`` (10) values, uniform, one-hot in ``z``;
* ``c2``, ``c3``, ...: ``continuous_codes`` (2) continuous codes, uniform in ``[-1, 1]``.

They are named (:attr:`InfoGANGenerator.latent_codes`), so ``zoo sample RUN --code c1`` draws a traversal grid (one
row per draw of the noise and other codes, ``c1``'s ten values across) and ``--code c1=3`` holds a code. Held codes
overwrite what was drawn, so a row keeps its noise across a traversal.

Networks (the paper's Table 1 for MNIST; every layer at the default sizes is listed under "Layer shapes" below):

* G (:class:`InfoGANGenerator`): ``z`` -> FC ``hidden`` (1024) -> BatchNorm -> ReLU -> :func:`zoo.layers.conv_decoder`
  (FC to ``2*width`` maps of 7x7, BatchNorm, ReLU; 4x4 stride-2 transposed convs to ``width`` (64) maps of 14x14,
  BatchNorm, ReLU, then to ``C`` maps of 28x28) -> tanh: ``[N, C, H, W]`` in ``[-1, 1]``.
* D (:class:`InfoGANDiscriminator`): the body, 4x4 stride-2 convs of ``width`` and ``2*width`` channels
  (:func:`zoo.layers.conv_features`, BatchNorm on the second) -> FC ``hidden`` (1024) -> BatchNorm, LeakyReLU(0.1)
  after each; then D's head, FC -> 1 logit.
* Q (:class:`Recognition`): D's body, shared (Q holds no copy: its parameters are its head's), then FC ``q_hidden``
  (128) -> BatchNorm -> LeakyReLU(0.1) -> FC to ``categories`` logits of ``Q(c1 | x)`` and the means of the
  Gaussians ``Q(c_j | x)`` of the continuous codes. Their standard deviation is FIXED at 1, as the authors' MNIST
  run sets it (``Uniform(1, fix_std=True)``; the paper also describes learning it).

Training step (:class:`InfoGANTrainer`), on real images ``x`` ``[N, C, H, W]``; with logits (``D(x) = sigmoid``),
``info(c, x) = lambda_cat * CE(Q_logits(x), c1) + lambda_cont * mean sum_j (c_j - Q_mean_j(x))**2 / 2``, the negative
of the mutual-information lower bound ``L_I`` up to the constant entropy of the prior (for unit-variance Gaussians,
``-log Q(c_j | x)`` is ``(c_j - mean)**2 / 2`` plus a constant):

1. ``z = prior(N)``, ``fake = G(z)`` (no gradient to G).
2. D and Q update: ``loss_d = -mean log D(x) - mean log(1 - D(fake)) + info(c, fake)``
   (:func:`zoo.gan.discriminator_loss`), D's body run once on the fakes for both heads; one Adam step (lr
   ``lr_d``) on D and Q together: Q's weights belong to the discriminator's optimiser, as in the authors' code.
3. G update on FRESH ``z = prior(N)`` (the authors' code draws the latent input anew for each update), through the
   updated D and Q, both frozen (``requires_grad_(False)``): ``loss_g = -mean log D(G(z)) + info(c, G(z))``
   (non-saturating, :func:`zoo.gan.non_saturating_generator_loss`); one Adam step (lr ``lr_g``) on G.

Reports ``loss_d`` and ``loss_g`` (each with its information term), the mean logits ``score_real`` and
``score_fake``, and the G update's information terms before their weights, ``info_cat`` (the cross-entropy of
``c1``: 0 when Q reads it perfectly, ``log 10`` when not at all) and ``info_cont``.

As the paper and the authors' MNIST run: Adam with beta1 0.5, lr 1e-3 for G and 2e-4 for D (and Q); ``lambda`` 1 for
the categorical code. For the continuous codes the paper advises a smaller ``lambda`` in general (Section 7: the term
involves differential entropy) but its MNIST run, with Q's standard deviation fixed at 1, weights them by 1 too
(``info_reg_coeff=1.0`` for both): ``lambda_cont=1``, a half squared error. Batch size is the profile's (the authors:
128). Weights from N(0, 0.02), BatchNorm scales from N(1, 0.02) (:func:`zoo.layers.dcgan_init`; the authors'
convolutions use a truncated normal).

Deviations, and why:

* G ends in tanh, for zoo's ``[-1, 1]`` images, where the authors' ends in a sigmoid, the mean of a Bernoulli per
  pixel on ``[0, 1]`` images: ``2 * sigmoid(a) - 1 = tanh(a / 2)``, the same family of outputs.
* No bias on a layer followed by BatchNorm (the authors' code has one; BatchNorm's shift makes it redundant), as in
  zoo's shared conv stacks.
* Q outputs the continuous codes' means only: the authors' Q also outputs a log-variance per continuous code that the
  fixed standard deviation then ignores.
* LeakyReLU(0.1), as the paper states; the authors' code uses 0.01 (``leaky_rectify``'s default).
* Other image sizes: the conv stacks follow :func:`zoo.layers.stride2_layers`: two stride-2 layers below 64 pixels a
  side (the paper's MNIST depth, so 3x32x32 uses it on 8x8 -> 16x16 -> 32x32 maps), DCGAN's depth from 64x64 (four
  stride-2 layers, ``width`` to ``8*width`` channels); the paper's own CelebA, SVHN and chair networks are not
  reproduced.

What InfoGAN is for, measured: a model whose categorical code has as many values as the dataset has classes gets
``code_accuracy`` in its rows (:mod:`zoo.metrics.classes`): the accuracy of the best one-to-one mapping of ``c1``'s
values to the classes the domain classifier sees in its samples (the paper's 5% error on MNIST is this number, with
its own classifier).

How this trainer maps onto an auxiliary-loss switch of :class:`zoo.gan.GANTrainer`: the information term is an
auxiliary loss added to BOTH players' losses, computed from the latent input the fakes were drawn from (the codes)
and D's body features of those fakes (Q's input), with extra parameters (Q's head) trained by D's optimiser. A
switch that passes an auxiliary term ``(z, features of the fakes) -> scalar`` to the D and the G update, draws the
fakes with ``generator.prior``, and lets the term add modules to D's optimiser, makes this class ``GANTrainer(...,
aux=InformationTerm(Q))``; the fresh ``z`` for G's update is what a switch for the authors' sampling would add.

Layer shapes at the defaults (``noise_dim=62``, ``categories=10``, ``continuous_codes=2``, ``width=64``,
``hidden=1024``, ``q_hidden=128``), per image (the batch dimension left out). A row is one module or a run of
consecutive ones, named as in the network's state dict (``net.0-2`` is ``net.0``, ``net.1``, ``net.2``), their
classes, and the shape of the output; ``tests/test_model_shapes.py`` checks every row against the built network.
Q's rows are its own head: it runs D's body (``features``) first.

G at 1x28x28, 6,645,121 parameters::

    net.0-2    Linear BatchNorm1d ReLU           1024
    net.3-5    Linear BatchNorm1d ReLU           6272
    net.6      Unflatten                         128x7x7
    net.7-9    ConvTranspose2d BatchNorm2d ReLU  64x14x14
    net.10-11  ConvTranspose2d Tanh              1x28x28

D at 1x28x28, 6,558,017 parameters::

    features.0-1  Conv2d LeakyReLU              64x14x14
    features.2-4  Conv2d BatchNorm2d LeakyReLU  128x7x7
    features.5    Flatten                       6272
    features.6-8  Linear BatchNorm1d LeakyReLU  1024
    head          Linear                        1

Q at 1x28x28, 132,876 parameters::

    net.0-2  Linear BatchNorm1d LeakyReLU  128
    net.3    Linear                        12

G at 3x64x64, 11,239,299 parameters::

    net.0-2    Linear BatchNorm1d ReLU           1024
    net.3-5    Linear BatchNorm1d ReLU           8192
    net.6      Unflatten                         512x4x4
    net.7-9    ConvTranspose2d BatchNorm2d ReLU  256x8x8
    net.10-12  ConvTranspose2d BatchNorm2d ReLU  128x16x16
    net.13-15  ConvTranspose2d BatchNorm2d ReLU  64x32x32
    net.16-17  ConvTranspose2d Tanh              3x64x64

D at 3x64x64, 11,149,121 parameters::

    features.0-1    Conv2d LeakyReLU              64x32x32
    features.2-4    Conv2d BatchNorm2d LeakyReLU  128x16x16
    features.5-7    Conv2d BatchNorm2d LeakyReLU  256x8x8
    features.8-10   Conv2d BatchNorm2d LeakyReLU  512x4x4
    features.11     Flatten                       8192
    features.12-14  Linear BatchNorm1d LeakyReLU  1024
    head            Linear                        1

Q at 3x64x64, 132,876 parameters::

    net.0-2  Linear BatchNorm1d LeakyReLU  128
    net.3    Linear                        12
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from genzoo_plugins.search_ranges import LEARNING_RATE, adam_betas, around
from zoo import Batch, Discriminator, Generator, ImageShape, LatentCode, ModelSpec, hookimpl
from zoo.gan import GANTrainer, discriminator_loss, non_saturating_generator_loss
from zoo.layers import conv_decoder, conv_features, dcgan_init

LEAK = 0.1
"""The slope of the discriminator's and Q's LeakyReLUs (the paper's "leaky rate 0.1")."""


class InfoGANGenerator(Generator):
    """``z [N, noise_dim + categories + continuous_codes]`` -> ``[N, C, H, W]`` in ``[-1, 1]``; unconditional.

    ``z`` is drawn by :meth:`prior`: uniform noise, then ``c1`` one-hot, then ``c2, c3, ...``; see the module
    docstring for the layers.
    """

    def __init__(self, image_shape: ImageShape, noise_dim: int, categories: int, continuous_codes: int, hidden: int,
                 width: int):  # fmt: skip
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.num_classes = 0
        self.noise_dim, self.categories, self.continuous_codes = noise_dim, categories, continuous_codes
        self.latent_dim = noise_dim + categories + continuous_codes
        self.latent_codes = (
            LatentCode("c1", "categorical", values=categories),
            *(LatentCode(f"c{2 + j}", "continuous", low=-1.0, high=1.0) for j in range(continuous_codes)),
        )
        self.net = nn.Sequential(
            nn.Linear(self.latent_dim, hidden, bias=False),  # [N, latent_dim] -> [N, hidden]
            nn.BatchNorm1d(hidden),
            nn.ReLU(inplace=True),
            *conv_decoder(hidden, self.image_shape, width, batchnorm=True),  # -> [N, C, H, W] in [-1, 1]
        )
        self.net.apply(dcgan_init)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(z)

    def prior(
        self, n: int, *, generator: torch.Generator | None = None, codes: dict[str, torch.Tensor] | None = None
    ) -> torch.Tensor:
        """``z [n, latent_dim]``: ``noise_dim`` values uniform in ``[-1, 1]``, ``c1`` uniform over its values (one-hot),
        the continuous codes uniform in ``[-1, 1]``, drawn in that order from ``generator``; ``codes`` (checked by
        :meth:`sample`) overwrite the drawn codes, so the draws never depend on them."""
        device = self.device
        noise = torch.rand(n, self.noise_dim, generator=generator, device=device) * 2 - 1
        category = torch.randint(self.categories, (n,), generator=generator, device=device)
        continuous = torch.rand(n, self.continuous_codes, generator=generator, device=device) * 2 - 1
        codes = codes or {}
        categorical, *continuous_codes = self.latent_codes
        category = codes.get(categorical.name, category)
        for j, code in enumerate(continuous_codes):
            if code.name in codes:
                continuous[:, j] = codes[code.name]
        return torch.cat([noise, F.one_hot(category, self.categories).to(noise.dtype), continuous], dim=1)

    def codes_of(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The codes in ``z`` (from :meth:`prior`): ``c1`` as int64 ``[N]`` and the continuous codes ``[N, m]``."""
        one_hot = z[:, self.noise_dim : self.noise_dim + self.categories]
        return one_hot.argmax(dim=1), z[:, self.noise_dim + self.categories :]


def _leaky(network: nn.Module) -> nn.Module:
    """``network`` with every LeakyReLU at the slope :data:`LEAK` (:func:`zoo.layers.conv_features` builds 0.2)."""
    for module in network.modules():
        if isinstance(module, nn.LeakyReLU):
            module.negative_slope = LEAK
    return network


class InfoGANDiscriminator(Discriminator):
    """Images ``[N, C, H, W]`` -> logits ``[N]``: the body (:meth:`features`, shared with Q), then D's head."""

    def __init__(self, image_shape: ImageShape, width: int, hidden: int):
        super().__init__()
        convs, num_features = conv_features(tuple(image_shape), width, batchnorm=True)  # -> [N, F]
        self.features = _leaky(
            nn.Sequential(
                *convs,
                nn.Linear(num_features, hidden, bias=False),  # [N, F] -> [N, hidden]
                nn.BatchNorm1d(hidden),
                nn.LeakyReLU(LEAK, inplace=True),
            )
        )
        self.head = nn.Linear(hidden, 1)  # [N, hidden] -> [N, 1], squeezed to [N]
        self.apply(dcgan_init)

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.score(self.features(images))

    def score(self, features: torch.Tensor) -> torch.Tensor:
        """D's logits ``[N]`` from the body's ``features`` ``[N, hidden]``."""
        return self.head(features).squeeze(1)


class Recognition(nn.Module):
    """Q: images ``[N, C, H, W]`` -> ``(logits [N, categories], means [N, continuous_codes])`` of ``Q(c | x)``.

    Runs D's body (``discriminator.features``), which it shares and does not own: it holds the discriminator in a
    tuple, so the body's weights are D's alone (not in Q's parameters, state dict or parameter count) and Q's are its
    head's. Q moves with D (:meth:`zoo.Trainer.to` moves both).
    """

    def __init__(self, discriminator: InfoGANDiscriminator, hidden: int, q_hidden: int, categories: int,
                 continuous_codes: int):  # fmt: skip
        super().__init__()
        self._shared = (discriminator,)  # a tuple: nn.Module does not register D as a submodule of Q
        self.categories = categories
        self.net = nn.Sequential(
            nn.Linear(hidden, q_hidden, bias=False),  # D's features [N, hidden] -> [N, q_hidden]
            nn.BatchNorm1d(q_hidden),
            nn.LeakyReLU(LEAK, inplace=True),
            nn.Linear(q_hidden, categories + continuous_codes),  # -> [N, categories + continuous_codes]
        )
        self.net.apply(dcgan_init)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        (discriminator,) = self._shared
        return self.read(discriminator.features(images))

    def read(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``Q(c | x)`` from D's body ``features`` ``[N, hidden]``: ``c1``'s logits and the continuous codes' means."""
        out = self.net(features)
        return out[:, : self.categories], out[:, self.categories :]


class InfoGANTrainer(GANTrainer):
    """The InfoGAN step (module docstring): :class:`zoo.gan.GANTrainer`'s networks, losses and D optimiser, with Q
    trained beside D, the information term in both updates, G's own learning rate and fresh noise for G's update."""

    def __init__(
        self,
        generator: InfoGANGenerator,
        discriminator: InfoGANDiscriminator,
        recognition: Recognition,
        *,
        lr_g: float,
        lr_d: float,
        betas: tuple[float, float],
        lambda_cat: float,
        lambda_cont: float,
    ):
        super().__init__(generator, discriminator, lr=lr_d, betas=betas)
        self.recognition = recognition
        self.lambda_cat, self.lambda_cont = lambda_cat, lambda_cont
        self.opt_g = torch.optim.Adam(generator.parameters(), lr=lr_g, betas=betas)
        self.opt_d = torch.optim.Adam([*discriminator.parameters(), *recognition.parameters()], lr=lr_d, betas=betas)

    def modules(self) -> dict[str, nn.Module]:
        return {"G": self.generator, "D": self.discriminator, "Q": self.recognition}

    def information(self, features: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(CE of c1, mean sum_j (c_j - mean_j)**2 / 2)``: ``-log Q(c | x)`` up to constants, per code kind, for
        fakes drawn from ``z`` whose D body ``features`` are given."""
        category, continuous = self.generator.codes_of(z)
        logits, means = self.recognition.read(features)
        cross_entropy = F.cross_entropy(logits, category)
        squared = 0.5 * ((continuous - means) ** 2).sum(dim=1).mean()
        return cross_entropy, squared

    def train_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        generator, discriminator, n = self.generator, self.discriminator, len(batch.images)
        z = generator.prior(n)
        with torch.no_grad():
            fake = generator(z)
        real_scores = discriminator(batch.images)
        features = discriminator.features(fake)
        fake_scores = discriminator.score(features)
        cross_entropy, squared = self.information(features, z)
        loss_d = discriminator_loss(real_scores, fake_scores) + self.lambda_cat * cross_entropy
        loss_d = loss_d + self.lambda_cont * squared
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()

        z = generator.prior(n)
        discriminator.requires_grad_(False)
        self.recognition.requires_grad_(False)
        try:
            features = discriminator.features(generator(z))
            cross_entropy, squared = self.information(features, z)
            adversarial = non_saturating_generator_loss(discriminator.score(features))
            loss_g = adversarial + self.lambda_cat * cross_entropy + self.lambda_cont * squared
            self.opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            self.opt_g.step()
        finally:
            discriminator.requires_grad_(True)
            self.recognition.requires_grad_(True)
        return {
            "loss_d": loss_d.detach(),
            "loss_g": loss_g.detach(),
            "score_real": real_scores.detach().mean(),
            "score_fake": fake_scores.detach().mean(),
            "info_cat": cross_entropy.detach(),
            "info_cont": squared.detach(),
        }


def build(
    image_shape: ImageShape,
    num_classes: int,
    *,
    noise_dim: int = 62,
    categories: int = 10,
    continuous_codes: int = 2,
    width: int = 64,
    hidden: int = 1024,
    q_hidden: int = 128,
    lr_g: float = 1e-3,
    lr_d: float = 2e-4,
    betas: tuple[float, float] = (0.5, 0.999),
    lambda_cat: float = 1.0,
    lambda_cont: float = 1.0,
) -> InfoGANTrainer:
    """InfoGAN's G, D and Q (module docstring) with the paper's MNIST codes and learning rates by default."""
    generator = InfoGANGenerator(image_shape, noise_dim, categories, continuous_codes, hidden, width)
    discriminator = InfoGANDiscriminator(image_shape, width, hidden)
    recognition = Recognition(discriminator, hidden, q_hidden, categories, continuous_codes)
    return InfoGANTrainer(generator, discriminator, recognition, lr_g=lr_g, lr_d=lr_d, betas=betas,
                          lambda_cat=lambda_cat, lambda_cont=lambda_cont)  # fmt: skip


@hookimpl
def register_models(register):
    register(
        ModelSpec(
            name="infogan",
            family="gan",
            conditional=False,
            paper=(
                "Chen et al. 2016, InfoGAN: Interpretable Representation Learning by Information Maximizing "
                "Generative Adversarial Nets, arXiv:1606.03657"
            ),
            factory=build,
            tiny_hparams={"noise_dim": 4, "width": 4, "hidden": 16, "q_hidden": 8},
            search_space={  # genzoo_plugins.search_ranges says where each range comes from
                "lr_g": LEARNING_RATE,
                "lr_d": LEARNING_RATE,
                "betas": adam_betas(0.999),  # the authors' beta2
                "noise_dim": around(62),
                "width": around(64),
            },
            description="GAN with named latent codes (c1 categorical, c2 c3 continuous) and a recognition net Q",
            license="MIT",
        )
    )
