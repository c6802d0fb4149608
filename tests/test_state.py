"""The training state the loop and the NAS search save: a saved and loaded state continues exactly where
the original would have, and a new training stage can keep its fresh optimiser."""
import torch

from trainables.state import TrainingState, read_state


def make_state(seed: int) -> TrainingState:
    torch.manual_seed(seed)
    model = torch.nn.Linear(4, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    return TrainingState(model, optimizer, torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, 10),
                         order_rng=torch.Generator().manual_seed(seed), noise_rng=torch.Generator().manual_seed(seed + 1),
                         arch_rng=torch.Generator().manual_seed(seed + 2), notes=dict(stage="all"))


def step(state: TrainingState) -> torch.Tensor:
    """One optimiser step on inputs drawn from the state's generators; returns the weights after it."""
    x = torch.randn(8, 4, generator=state.noise_rng) + torch.rand(1, generator=state.order_rng)
    state.optimizer.zero_grad()
    state.model(x).square().mean().backward()
    state.optimizer.step()
    state.scheduler.step()
    return torch.randint(100, (1,), generator=state.arch_rng), state.model.weight.detach().clone()


def test_a_loaded_state_continues_like_the_uninterrupted_run(tmp_path):
    original = make_state(0)
    step(original)
    original.epoch, original.elapsed_s = 0, 1.5
    original.save(tmp_path / "state.pt")
    uninterrupted = [step(original) for _ in range(3)]

    resumed = make_state(7)  # other weights and generators: everything must come from the file
    resumed.load(tmp_path / "state.pt")
    assert (resumed.first_epoch, resumed.elapsed_s, resumed.restarts, resumed.resumed) == (1, 1.5, 1, True)
    assert resumed.notes == {"stage": "all"}
    for (code_a, weights_a), (code_b, weights_b) in zip(uninterrupted, [step(resumed) for _ in range(3)]):
        assert torch.equal(code_a, code_b) and torch.equal(weights_a, weights_b)


def test_a_new_stage_keeps_its_fresh_optimiser(tmp_path):
    original = make_state(0)
    step(original)
    original.save(tmp_path / "state.pt")
    saved = read_state(tmp_path / "state.pt")
    assert saved["optimizer"]["state"]  # Adam's moments were saved

    fresh = make_state(0)
    fresh.restore(saved, optimizers=False)
    assert fresh.optimizer.state_dict()["state"] == {} and fresh.scheduler.last_epoch == 0
    assert torch.equal(fresh.model.weight, original.model.weight)
