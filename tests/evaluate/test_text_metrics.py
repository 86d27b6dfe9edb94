"""Edit distance, error rate and corpus BLEU on hand-worked examples."""

import math

import pytest

from musicjax.evaluate.text_metrics import corpus_bleu, edit_distance, error_rate


def test_edit_distance_counts_substitutions_insertions_and_deletions():
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance([], ["a", "b"]) == 2 and edit_distance(["a"], []) == 1
    assert edit_distance(["ge", "lo", "bet"], ["ge", "lobt"]) == 2
    assert error_rate([["a", "b"], ["c"]], [["a", "x"], ["c", "d"]]) == pytest.approx(2 / 4)


def test_corpus_bleu_by_hand():
    assert corpus_bleu(["春风吹又生"], ["春风吹又生"], max_n=2) == pytest.approx(1.0)
    # unigrams 3/4, bigrams 2/3, same length: sqrt(3/4 * 2/3)
    assert corpus_bleu(["abcd"], ["abce"], max_n=2) == pytest.approx(math.sqrt(0.75 * 2 / 3))
    # a short hypothesis pays the brevity penalty exp(1 - 6/3); clipped counts: 'aa' matches once
    assert corpus_bleu(["abc"], ["abcxyz"], max_n=2) == pytest.approx(math.exp(1 - 2.0))
    assert corpus_bleu(["aa"], ["ab"], max_n=1) == pytest.approx(0.5)
    assert corpus_bleu(["xy"], ["ab"], max_n=2) == 0.0 and corpus_bleu([""], ["ab"]) == 0.0
