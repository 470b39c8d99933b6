"""GANTrainer's switches: n_critic on fresh real batches, the EMA generator, auxiliary loss terms; the hinge losses."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from zoo import Batch
from zoo.checkpoint import load_generator, save_generator
from zoo.gan import (
    AuxLoss,
    GANTrainer,
    GANUpdate,
    discriminator_loss,
    hinge_discriminator_loss,
    hinge_generator_loss,
    non_saturating_generator_loss,
)
from zoo.layers import DCGANDiscriminator, DCGANGenerator
from zoo.runs import parameter_counts

SHAPE = (1, 8, 8)


def trainer(**switches) -> GANTrainer:
    torch.manual_seed(0)
    generator = DCGANGenerator(SHAPE, latent_dim=4, width=4)
    return GANTrainer(generator, DCGANDiscriminator(SHAPE, width=4), lr=1e-3, betas=(0.5, 0.999), **switches)


def batch(n: int, seed: int = 0) -> Batch:
    images = torch.rand(n, *SHAPE, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    return Batch(images, torch.zeros(n, dtype=torch.long))


def test_hinge_losses_match_their_formulas():
    real, fake = torch.tensor([2.0, 0.5, -1.0]), torch.tensor([-2.0, 0.0, 1.5])
    # max(0, 1 - real): 0, 0.5, 2 -> mean 5/6; max(0, 1 + fake): 0, 1, 2.5 -> mean 7/6
    assert hinge_discriminator_loss(real, fake).item() == pytest.approx(5 / 6 + 7 / 6)
    assert hinge_generator_loss(fake).item() == pytest.approx(-(-2.0 + 0.0 + 1.5) / 3)


def test_n_critic_updates_d_on_fresh_batches_and_g_on_fresh_fakes():
    gan = trainer(n_critic=3)
    assert gan.batches_per_step == 3
    seen = {"D": [], "G": []}
    update_d, update_g = gan.update_discriminator, gan.update_generator
    gan.update_discriminator = lambda real, z, fake, labels: (
        seen["D"].append((real, z, fake)) or update_d(real, z, fake, labels)
    )
    gan.update_generator = lambda real, z, fake, labels: (
        seen["G"].append((real, z, fake)) or update_g(real, z, fake, labels)
    )
    step = gan.train_step(batch(6))
    reals = [real for real, _, _ in seen["D"]]
    assert [r.tolist() for r in reals] == [b.images.tolist() for b in batch(6).split(3)]
    assert all(not fake.requires_grad for _, _, fake in seen["D"]), "the critic updates' fakes carry no G graph"
    [(real, z, fake)] = seen["G"]
    assert fake.requires_grad and not any(torch.equal(z, other) for _, other, _ in seen["D"]), "G gets fresh noise"
    assert torch.equal(real, reals[-1])
    assert list(step) == ["loss_d", "loss_g", "score_real", "score_fake"]


def test_one_d_update_leaves_g_its_fakes():
    gan = trainer()
    assert gan.batches_per_step == 1 and gan.generator is gan.trained_generator
    assert set(gan.modules()) == {"G", "D"} and gan.extra_state() == {}
    seen = []
    update_g = gan.update_generator
    gan.update_generator = lambda real, z, fake, labels: seen.append(fake) or update_g(real, z, fake, labels)
    gan.update_discriminator = lambda real, z, fake, labels: (
        seen.append(fake)
        or {
            "loss_d": torch.tensor(0.0),
            "score_real": torch.tensor(0.0),
            "score_fake": torch.tensor(0.0),
        }
    )
    gan.train_step(batch(4))
    assert torch.equal(seen[0], seen[1]) and seen[1].requires_grad and not seen[0].requires_grad


def test_ema_generator_copies_g_while_warming_up_then_averages_it():
    gan = trainer(ema_decay=0.75, ema_start=2)
    average = gan.generator
    assert average is not gan.trained_generator and gan.modules()["G_ema"] is average
    assert parameter_counts(gan)["G_ema"] == 0, "the average is not trained"
    for step in (1, 2):
        gan.train_step(batch(4, seed=step))
        assert gan.ema_updates == step
        for a, g in zip(average.state_dict().values(), gan.trained_generator.state_dict().values(), strict=True):
            assert torch.equal(a, g), "during the warm-up the average is a copy of G"
    before = {k: v.clone() for k, v in average.state_dict().items()}
    gan.train_step(batch(4, seed=3))
    after, trained = average.state_dict(), gan.trained_generator.state_dict()
    for key, old in before.items():
        if old.is_floating_point():
            torch.testing.assert_close(after[key], 0.75 * old + 0.25 * trained[key])
        else:
            assert torch.equal(after[key], trained[key])  # BatchNorm's num_batches_tracked is copied
    assert gan.extra_state() == {"ema_updates": 3}


def test_the_ema_generator_is_the_one_saved_and_loaded(tmp_path):
    gan = trainer(ema_decay=0.5)
    for step in range(3):
        gan.train_step(batch(4, seed=step))
    path = tmp_path / "generator.safetensors"
    save_generator(path, gan.generator)
    fresh = trainer(ema_decay=0.5)
    load_generator(path, fresh.generator)
    rng = lambda: torch.Generator().manual_seed(1)  # noqa: E731
    samples = gan.generator.sample(4, generator=rng())
    assert torch.equal(fresh.generator.sample(4, generator=rng()), samples)
    assert not torch.equal(gan.trained_generator.sample(4, generator=rng()), samples)


def test_aux_losses_get_their_update_and_join_the_loss_with_their_weight():
    updates: dict[str, list[GANUpdate]] = {"D": [], "G": []}
    frozen = []

    def term(network):
        def value(update: GANUpdate) -> torch.Tensor:
            updates[network].append(update)
            frozen.append(not any(p.requires_grad for p in update.discriminator.parameters()))
            return update.fake_scores.pow(2).mean()

        return value

    aux = [AuxLoss("d_term", term("D"), on="D", weight=0.5), AuxLoss("g_term", term("G"), on="G", weight=2.0)]
    gan = trainer(aux_losses=aux, n_critic=2)
    step = gan.train_step(batch(8))
    assert list(step) == ["loss_d", "loss_g", "score_real", "score_fake", "d_term", "g_term"]
    assert len(updates["D"]) == 2 and len(updates["G"]) == 1
    for update in updates["D"]:
        assert update.real_scores is not None and not update.fake.requires_grad
        assert update.generator is gan.trained_generator and update.z.shape == (4, 4)
    [g_update] = updates["G"]
    assert g_update.real_scores is None and g_update.fake.requires_grad
    assert frozen == [False, False, True], "D is frozen in G's update only"
    d_terms = [u.fake_scores.detach().pow(2).mean() for u in updates["D"]]
    assert step["d_term"].item() == pytest.approx(torch.stack(d_terms).mean().item())
    main_d = [discriminator_loss(u.real_scores.detach(), u.fake_scores.detach()) for u in updates["D"]]
    want_d = torch.stack([m + 0.5 * t for m, t in zip(main_d, d_terms, strict=True)]).mean()
    assert step["loss_d"].item() == pytest.approx(want_d.item(), rel=1e-5)
    main_g = non_saturating_generator_loss(g_update.fake_scores.detach())
    assert step["loss_g"].item() == pytest.approx((main_g + 2.0 * step["g_term"]).item(), rel=1e-5)


def test_aux_loss_terms_move_the_network_they_are_on():
    plain, pushed = trainer(), trainer(aux_losses=[AuxLoss("push", lambda u: -u.fake.mean(), on="G", weight=100.0)])
    for gan in (plain, pushed):
        torch.manual_seed(1)  # the same noise for both
        gan.train_step(batch(4))
    assert torch.equal(plain.discriminator.head.weight, pushed.discriminator.head.weight), "a G term leaves D alone"
    assert not torch.equal(plain.trained_generator.net[0].weight, pushed.trained_generator.net[0].weight)


@pytest.mark.parametrize(
    ("switches", "message"),
    [
        ({"n_critic": 0}, "n_critic must be at least 1"),
        ({"ema_decay": 1.0}, r"ema_decay must lie in \[0, 1\)"),
        ({"ema_start": -1}, "ema_start be >= 0"),
        ({"aux_losses": [AuxLoss("loss_d", F.relu)]}, "clashing: loss_d"),
        ({"aux_losses": [AuxLoss("q", F.relu), AuxLoss("q", F.relu, on="G")]}, "clashing: q"),
        ({"aux_losses": [AuxLoss("q", F.relu, on="both")]}, "on='D' or 'G'"),
    ],
)
def test_bad_switches_are_refused(switches, message):
    with pytest.raises(ValueError, match=message):
        trainer(**switches)
