"""Run under torchrun: rank 1 raises at step 3; the job must exit non-zero, showing the error."""

import sys

import torch

from einformer import EncoderDecoderConfig, EncoderDecoderTransformer
from einformer.data.batches import Seq2SeqBatches
from einformer.training import Trainer, TrainingArguments
from einformer.training.distributed import setup, teardown


class Faulty(Seq2SeqBatches):
    def get(self, index):
        if self.sampler.rank == 1 and index == 3:
            raise RuntimeError("rank 1 failed on purpose at step 3")
        return super().get(index)


def main(run_dir):
    info = setup(timeout_s=30)
    torch.manual_seed(0)
    model = EncoderDecoderTransformer(EncoderDecoderConfig.from_preset("tiny", src_vocab_size=20, tgt_vocab_size=24))
    data = [([4 + i % 10, 5], [6, 7 + i % 9]) for i in range(64)]
    batches = Faulty(data, 8, rank=info.rank, world_size=info.world_size)
    args = TrainingArguments(max_steps=10, batch_size=8, progress=False, save_every=5)
    try:
        Trainer(model, args, batches, run_dir=run_dir, dist_info=info).train()
    finally:
        teardown()


if __name__ == "__main__":
    main(sys.argv[1])
