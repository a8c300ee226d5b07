"""nn.DataParallel fallback: replicas' losses combine into the whole batch's token mean (and its
gradient); the trainer falls back to one device, with a warning, when fewer than 2 GPUs exist."""

import pytest
import torch

from einformer import GPT, GPTConfig
from einformer.training import Trainer, TrainingArguments
from einformer.training.data_parallel import DataParallelModel, ReplicaLoss, combine


def gpt():
    torch.manual_seed(0)
    return GPT(
        GPTConfig.from_preset("tiny", vocab_size=32, dropout=0.0, embedding_dropout=0.0, attention_dropout=0.0)
    ).double()


def batch():
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 32, (6, 10), generator=g)
    labels = ids.clone()
    labels[:3, 4:] = -100  # the first half has far fewer loss tokens than the second
    return {"input_ids": ids, "labels": labels}


def test_replica_losses_combine_to_the_whole_batch_token_mean_and_gradient():
    model, b = gpt(), batch()
    whole = model(**b).loss
    whole.backward()
    expected = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    replica = ReplicaLoss(model)
    parts = [replica(**{k: v[s] for k, v in b.items()}) for s in (slice(0, 3), slice(3, 6))]
    sums, counts = (torch.stack(x) for x in zip(*parts, strict=True))  # what DataParallel's gather returns
    loss = combine(sums, counts)
    loss.backward()
    torch.testing.assert_close(loss, whole, rtol=0, atol=1e-6)
    naive = torch.stack([s / c for s, c in parts]).mean()  # averaging replica means is not the token mean
    assert abs(float((naive - whole).detach())) > 1e-3
    for p, g in zip(model.parameters(), expected, strict=True):
        torch.testing.assert_close(p.grad, g, rtol=0, atol=1e-6)


def test_data_parallel_model_on_cpu_runs_the_module_itself():
    model, b = gpt(), batch()
    torch.testing.assert_close(DataParallelModel(model, device_ids=[])(**b).loss, model(**b).loss)


def test_trainer_warns_and_uses_one_device_without_two_gpus(tmp_path):
    from einformer.data.text import LMBatches

    data = torch.randint(0, 32, (2000,), generator=torch.Generator().manual_seed(0))
    args = dict(max_steps=3, batch_size=4, progress=False, eval_every=10, save_every=10)
    runs = []
    for dp in (False, True):
        torch.manual_seed(0)
        model = GPT(
            GPTConfig.from_preset("tiny", vocab_size=32, dropout=0.0, embedding_dropout=0.0, attention_dropout=0.0)
        )
        trainer = Trainer(
            model,
            TrainingArguments(**args, data_parallel=dp),
            LMBatches(data, block_size=16, batch_size=4, seed=0),
            run_dir=tmp_path / str(dp),
        )
        if dp:
            with pytest.warns(UserWarning, match="2 or more CUDA devices"):
                runs.append(trainer.train())
        else:
            runs.append(trainer.train())
    assert [h["loss"] for h in runs[0].history] == [h["loss"] for h in runs[1].history]


@pytest.mark.gpu
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 or more CUDA devices")
def test_data_parallel_on_two_gpus_matches_one_device():
    model, b = gpt().cuda(), {k: v.cuda() for k, v in batch().items()}
    with pytest.warns(UserWarning, match="nproc-per-node"):
        from einformer.training.data_parallel import wrap_data_parallel

        wrapped = wrap_data_parallel(model, torch.device("cuda"))
    torch.testing.assert_close(wrapped(**b).loss, model(**b).loss)
