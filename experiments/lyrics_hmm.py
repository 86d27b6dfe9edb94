"""Bayesian hidden Markov model of lyric lines (NumPyro): Dirichlet priors, states summed out by a
forward algorithm in `lax.scan`, fitted by NUTS, by SVI (AutoNormal) and by EM (maximum likelihood).

Run:      musicjax train experiments/lyrics_hmm.py:zh_chars --workdir runs/hmm_zh
          musicjax sample --workdir runs/hmm_zh ;  musicjax evaluate --workdir runs/hmm_zh --split test
Variants: zh_chars (Tang poems and Song ci, characters), zh_pinyin (the same lines as toned pinyin),
          de_words (chorale verses), en_words (songs and poems; the first 2,400 lines), tiny (tests).

Measured 2026-12-01, each variant once, on the project's 2-core x86_64 CPU (AVX-512): zh_chars
alone on the idle machine, then zh_pinyin, de_words and en_words at once (three fits sharing the 2
cores, with a test run at the end of en's), through `musicjax train … ; musicjax evaluate --split
test` (`--set mcmc.num_warmup=500 --set mcmc.num_samples=1000`, now the defaults). K = 6 states,
150 emitted symbols (200 for de) with <eos> and <unk>; Dirichlet(1) priors; NUTS 2 chains x (500
warm-up + 1,000 draws) from the EM fit plus jitter, tree depth <= 5 (every draw used 31 leapfrog
steps), no divergences. Test-split perplexity per token (<eos> counted, an out-of-vocabulary token
counted as <unk>, the same tokens for every model); r-hat is the largest split r-hat over every
parameter (all 942-1,242 entries of init, trans and emit, states aligned); ESS the smallest:

| variant | test lines / tokens, OOV | NUTS pred. | NUTS mean | SVI | ML (EM) | PPM* | r-hat max | ESS min, /s | wall |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
| zh_chars | 252 / 3,884, 49.2% | 11.17 | 11.17 | 11.18 | **11.07** | 14.10 | **1.0025** | 633, 1.31 | 12:56 idle |
| zh_pinyin | 252 / 3,884, 35.1% | 22.89 | 22.89 | 22.90 | **22.49** | 28.64 | **1.0037** | 560, 0.70 | 21:58 shared |
| de_words | 204 / 1,534, 24.8% | **22.93** | 22.94 | 22.99 | 24.07 | 12.02 | **1.0066** | 361, 0.50 | 19:50 shared |
| en_words | 664 / 6,358, 33.6% | 18.66 | 18.67 | **18.64** | 18.66 | 15.30 | **1.0057** | 580, 0.66 | 24:34 shared |

- Bayesian against maximum likelihood at the same K: the posterior predictive wins only on the
  smallest corpus (de: 14k training tokens for 1,243 parameters, 22.93 vs 24.07; validation 19.40
  vs 20.67); on zh and en (23-24k tokens, 943 parameters) ML is as good or 1-2% better. So at this
  size the case for being Bayesian holds only where the data are scarce per parameter.
- PPM* beats every HMM on de and en: a first-order HMM with 6 states is a weak language model, and
  the chorale texts repeat across harmonisations (a test verse is often a training verse); on zh
  with half the characters out of vocabulary PPM* is worse.
- The goal r-hat <= 1.01 is met on every parameter of every variant. With 2 x (300 + 200) it was
  not (1.015-1.037: 6-17 parameters, nearly all emissions of rare tokens, p < 0.01, and 1-4
  transitions); the longer warm-up and five times the draws settled them, and the perplexities
  did not move (to 0.01). Tried and dropped: 4 chains x (100 + 150) (r-hat 1.22), the mass matrix
  started at the SVI guide's variances (1.45), and the chains vectorised under one vmap (1.2x per
  leapfrog step at best: the step is bound by arithmetic, not per-operation overhead).
- What the states learn (states.md per run): one state per punctuation role ('，' / '。' / <eos> in
  zh; commas and full stops in de/en), the rest split by word class (de: function words /
  pronouns / 'gott, jesu, herr, christ'; en: determiners 'the, a, your, my' / prepositions /
  pronouns). In zh the Viterbi states carry almost no information about tone (0.003 of 1.98 bits),
  level/oblique class (0.001 of 0.99) or the final at line ends (0.020 of 4.56, against 0.018-0.020
  for shuffled states): a first-order HMM over characters learns position in the line, not prosody.
- Time (zh_chars, idle): EM 4 s, SVI 1,500 steps 46 s, NUTS compile 15 s, warm-up 213 s, sampling
  483 s; sharing the machine three ways: EM 11-15 s, SVI 75-83 s, warm-up 339-461 s, sampling
  728-875 s. The test report takes 3-8 s.
`tiny` fits 120 chorale lines with K=3 in about a minute here, most of it compilation.
"""

import ml_collections

VARIANTS = ("zh_chars", "zh_pinyin", "de_words", "en_words", "tiny")
CHOICES = {  # fields with a fixed set of values (checked by musicjax.config)
    "data.language": ("zh", "de", "en"),
    "data.tokens": ("chars", "pinyin", "words"),
    "mcmc.init": ("ml", "uniform"),
    "svi.init": ("ml", "uniform"),
    "report.ppm_escape": ("a", "b", "c", "d", "x"),
}


def get_config(variant: str = "zh_chars") -> ml_collections.ConfigDict:
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; one of {', '.join(VARIANTS)}")
    c = ml_collections.ConfigDict()
    c.model_family = "lyrics_hmm"  # fitted by musicjax.tasks.lyrics_hmm.fit (MCMC/SVI), not the training loop
    c.seed = 0  # PRNG seed: NUTS, SVI, EM restarts, samples

    c.data = ml_collections.ConfigDict()
    c.data.language = "zh"  # zh | de | en: which texts of the lyrics_text corpus
    c.data.tokens = "chars"  # chars | pinyin | words (whitespace dropped either way)
    c.data.lowercase = True  # words: case folded before counting
    c.data.vocab_size = 150  # emitted symbols: <eos>, <unk> and the most frequent training tokens
    c.data.max_tokens = 17  # training lines longer than this are left out (evaluation keeps all lines)
    c.data.max_lines = 0  # keep only the first this many training lines (0: all)
    c.data.num_buckets = 2  # training lines grouped by length, each group padded to its own longest

    c.model = ml_collections.ConfigDict()
    c.model.num_states = 6  # K hidden states

    c.prior = ml_collections.ConfigDict()
    c.prior.init_concentration = 1.0  # symmetric Dirichlet on the initial state
    c.prior.transition_concentration = 1.0  # on each row of the transition matrix
    c.prior.emission_concentration = 1.0  # on each state's emissions (0.1-0.5 gave NUTS 2-4x longer trajectories)

    c.mcmc = ml_collections.ConfigDict()
    c.mcmc.num_chains = 2  # run one after another (one compiled NUTS loop serves all)
    c.mcmc.num_warmup = 500  # adaptation steps per chain (step size, diagonal mass matrix)
    c.mcmc.num_samples = 1000  # kept draws per chain (multiples of 50: the compiled block); 300 + 200 left r-hat 1.015-1.037
    c.mcmc.target_accept = 0.8  # NUTS target acceptance probability
    c.mcmc.max_tree_depth = 5  # at most 2^5 - 1 leapfrog steps per draw (what NUTS chose here anyway)
    c.mcmc.init = "ml"  # ml: each chain starts at the EM fit plus jitter | uniform: NumPyro's random start
    c.mcmc.init_jitter = 0.1  # ml starts: jitter sd (in units of the SVI guide's sd with mass_from_svi)
    c.mcmc.mass_from_svi = False  # start the mass matrix at the SVI guide's variances (measured: worse)

    c.svi = ml_collections.ConfigDict()  # fitted before NUTS (its scales can start NUTS's mass matrix)
    c.svi.num_steps = 1500  # Adam steps on the ELBO
    c.svi.learning_rate = 0.02
    c.svi.batch_fraction = 0.0  # share of the sequences scored per step (0: all; subsampled, scaled up)
    c.svi.num_draws = 400  # draws from the fitted guide
    c.svi.init = "ml"  # ml: the guide's means start at the EM fit | uniform: NumPyro's random start

    c.ml = ml_collections.ConfigDict()
    c.ml.num_iters = 500  # EM iterations at most
    c.ml.tol = 1e-6  # stop when the relative log-likelihood gain of an iteration is below this
    c.ml.restarts = 3  # random starts; the best training likelihood is kept

    c.report = ml_collections.ConfigDict()
    c.report.num_draws = 400  # posterior draws the predictive averages over (evenly thinned)
    c.report.top_tokens = 10  # tokens per state in the states table
    c.report.ppm = True  # the PPM* baseline on the same tokens
    c.report.ppm_escape = "c"

    c.sample = ml_collections.ConfigDict()
    c.sample.num_lines = 40  # lines written to samples.txt
    c.sample.max_tokens = 40  # a sampled line stops at <eos> or here

    if variant == "zh_pinyin":
        c.data.tokens = "pinyin"
    elif variant == "de_words":
        c.data.language, c.data.tokens = "de", "words"
        c.data.vocab_size = 200
    elif variant == "en_words":
        c.data.language, c.data.tokens = "en", "words"
        c.data.max_lines = 2400  # half the songs-poems lines: a fit the size of the Chinese one
    elif variant == "tiny":
        c.data.language, c.data.tokens = "de", "words"
        c.data.vocab_size, c.data.max_tokens, c.data.max_lines = 40, 12, 120
        c.model.num_states = 3
        c.mcmc.num_chains, c.mcmc.num_warmup, c.mcmc.num_samples = 2, 60, 60
        c.mcmc.max_tree_depth = 4
        c.data.num_buckets = 1
        c.svi.num_steps, c.svi.batch_fraction, c.svi.num_draws = 200, 0.25, 50
        c.ml.num_iters, c.ml.restarts = 30, 1
        c.report.num_draws = 50
        c.sample.num_lines = 5
    return c
