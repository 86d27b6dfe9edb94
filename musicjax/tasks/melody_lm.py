"""The melody language model task: melody tokens of corpus pieces, an LSTM LM, next-token
cross-entropy. Config fields become plain constructor arguments here, at the boundary."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np

from musicjax.models.fused_lstm import FusedLSTMLanguageModel
from musicjax.models.lstm import LSTMLanguageModel

IMPLEMENTATIONS = {"flax": LSTMLanguageModel, "fused": FusedLSTMLanguageModel}
from musicjax.train.data import MelodyData, eval_windows, melody_sequences, notes_in, train_batches


@dataclasses.dataclass
class MelodyLMTask:
    data: MelodyData
    model: LSTMLanguageModel | FusedLSTMLanguageModel
    seq_len: int
    max_transpose: int
    _sequences: dict = dataclasses.field(default_factory=dict)
    _eval_sets: dict = dataclasses.field(default_factory=dict)

    @classmethod
    def from_config(cls, config) -> "MelodyLMTask":
        data = MelodyData(tuple(tuple(s) for s in config.data.sources), config.data.steps_per_quarter,
                          config.data.min_pitch, config.data.max_pitch)
        m = config.model
        dtype = jnp.bfloat16 if config.train.precision == "bfloat16" else jnp.float32
        if m.get("implementation", "flax") not in IMPLEMENTATIONS:
            raise ValueError(f"model.implementation must be one of {', '.join(IMPLEMENTATIONS)}")
        model = IMPLEMENTATIONS[m.get("implementation", "flax")](data.codec.vocab_size, m.embed_dim, m.hidden,
                                                                 m.num_layers, m.dropout, dtype)
        return cls(data, model, config.train.seq_len, config.data.max_transpose)

    def sequences(self, split: str) -> list[np.ndarray]:
        if split not in self._sequences:
            self._sequences[split] = melody_sequences(self.data, split)[0]
        return self._sequences[split]

    def train_batches(self, batch_size: int, seed: int, process_index: int = 0, process_count: int = 1):
        return train_batches(self.sequences("train"), self.data, self.seq_len, batch_size, seed,
                             self.max_transpose, process_index, process_count)

    def eval_set(self, split: str, length: int) -> tuple[dict, int]:
        """All windows of a split and the number of notes they hold (built once per split and
        length: the loop evaluates the same split every `eval_every` steps)."""
        if (split, length) not in self._eval_sets:
            seqs = self.sequences(split)
            self._eval_sets[(split, length)] = eval_windows(seqs, length), sum(notes_in(s) for s in seqs)
        return self._eval_sets[(split, length)]

    def example_input(self):
        return jnp.zeros((1, 8), jnp.int32)


def evaluate_run(task: MelodyLMTask, config, params, split: str) -> dict:
    """NLL per token, bits per note and accuracy of the model on `split`, beside unigram and
    bigram baselines fitted on the training split and scored on the same targets."""
    from musicjax.evaluate.lm import ngram_baselines, summarize
    from musicjax.train import parallel
    from musicjax.train.loop import compile_steps, evaluate_split

    mesh = parallel.data_mesh()
    _, eval_step = compile_steps(task.model, mesh)
    model_row = evaluate_split(task, eval_step, params, split, config, mesh)
    train_windows, _ = task.eval_set("train", config.eval_length)
    eval_windows_, notes = task.eval_set(split, config.eval_length)
    tokens = float(eval_windows_["mask"].sum())
    base = ngram_baselines(train_windows, eval_windows_, task.data.codec.vocab_size)
    rows = {"lstm": model_row}
    for name, (nll_sum, correct) in base.items():
        rows[name] = summarize(nll_sum, tokens, notes, correct)
    return {"split": split, "models": rows}


def sample_run(task: MelodyLMTask, params, num: int, steps: int, seed: int, temperature: float = 1.0,
               top_k: int = 0, top_p: float = 1.0, primer=None, qpm: float = 120.0):
    """`num` melodies as Scores. `primer` (a Score) starts each sample: its melody tokens are fed
    first and kept at the start of the result."""
    import jax
    import jax.numpy as jnp

    from musicjax.codecs.melody import BOS, EOS, PAD
    from musicjax.data.score import Metadata
    from musicjax.sample.sampling import sample_lm

    codec = task.data.codec
    prefix = np.concatenate([[BOS], codec.encode(primer)]) if primer is not None else np.array([BOS])
    primer_tokens = jnp.asarray(np.tile(prefix, (num, 1)), jnp.int32)
    out = sample_lm(task.model, params, primer_tokens, jax.random.key(seed), num_steps=steps,
                    temperature=float(temperature), top_k=int(top_k), top_p=float(top_p), eos=EOS, pad=PAD)
    out = np.asarray(jax.device_get(out))
    scores = []
    for i in range(num):
        tokens = np.concatenate([prefix[1:], out[i]])
        scores.append(codec.decode(tokens, qpm=qpm, meta=Metadata(title=f"sample {i + 1} (seed {seed})")))
    return scores
