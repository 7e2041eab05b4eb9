"""Inter-rater agreement of multi-label readings, from counts that merge across chunks.

Pure numpy and the standard library (no Django), so the same code runs in a Celery
task, a notebook or a Spark/Dask job.

Data
----
A campaign's readings are a tensor ``R`` of shape ``(exams, readers, classes)``, int8:
1 = the reader chose the class, 0 = did not, -1 = the reader did not read the exam
(then the whole ``R[e, j, :]`` is -1; a partly read row is rejected). Every statistic
is per class (binary yes/no), computed from sums over exams (:class:`Counts`), so
``count_chunk(A) + count_chunk(B) == count_chunk(concat(A, B))`` exactly: counts are
integers held in float64, exact below 2**53.

Notation for one class: exam ``e`` was read by ``n_e`` readers, ``s_e`` of whom said
yes. Only exams with ``n_e >= 2`` carry information about agreement; exams read once
count towards ``n_positive_reads`` and ``prevalence`` and nowhere else.

Formulas (sums over exams with ``n_e >= 2`` unless said otherwise)
------------------------------------------------------------------
* ``prevalence`` = positive reads / reads, over every read exam.
* Reader pairs within an exam, pooled over exams (the pairwise generalisation of the
  2x2 table; each of the ``n_e(n_e-1)/2`` unordered pairs of readers of an exam is one
  observation): ``a = sum s(s-1)/2`` both-yes pairs, ``d = sum (n-s)(n-s-1)/2``
  both-no pairs, ``b+c = sum s(n-s)`` discordant pairs, ``P = a+b+c+d``.
  - ``observed_agreement`` ``p_o = (a+d)/P``.
  - ``pabak = 2 p_o - 1`` (Byrt, Bishop & Carlin 1993, J Clin Epidemiol 46:423).
  - ``ac1 = (p_o - p_e)/(1 - p_e)`` with ``p_e = 2 pi (1-pi)`` and
    ``pi = (2a+b+c)/(2P) = sum s(n-1) / sum n(n-1)`` (Gwet 2008, Br J Math Stat
    Psychol 61:29). With the same number of readers on every exam this is Gwet's
    multi-rater AC1; with two readers, the classic 2x2 formula.
  - ``positive_agreement = 2a/(2a+b+c) = sum s(s-1) / sum s(n-1)`` and
    ``negative_agreement = 2d/(2d+b+c)`` (Cicchetti & Feinstein 1990, J Clin
    Epidemiol 43:551; the multi-rater form is Uebersax's, "Raw agreement indices",
    john-uebersax.com/stat/raw.htm).
* ``fleiss_kappa``: Fleiss & Cuzick (1979, Appl Psychol Meas 3:537), the binary
  Fleiss kappa for unequal numbers of readers per exam:
  ``1 - sum[s(n-s)/n] / (N (nbar-1) pbar qbar)``, N = exams with ``n >= 2``,
  ``nbar = sum n / N``, ``pbar = sum s / sum n``, ``qbar = 1 - pbar``. When every
  exam has the same number of readers it *is* Fleiss (1971) and equals statsmodels'
  ``fleiss_kappa(aggregate_raters(...))`` (which refuses unequal numbers).
* ``krippendorff_alpha``, nominal, binary, incomplete designs (Krippendorff 2011,
  "Computing Krippendorff's alpha-reliability"): pairable values only (``n >= 2``),
  coincidence ``o_01 = sum s(n-s)/(n-1)``, ``n.. = sum n``, ``n_1 = sum s``,
  ``n_0 = n.. - n_1``; ``alpha = 1 - (n..-1) o_01 / (n_0 n_1)``. Equals
  ``krippendorff.alpha(..., level_of_measurement="nominal")``.
* ``cohen_kappa`` per reader pair, on the exams both read (Cohen 1960):
  ``(p_o - p_e)/(1 - p_e)``, ``p_e = p_A1 p_B1 + p_A0 p_B0``; equals scikit-learn's
  ``cohen_kappa_score``.
* Per reader against a consensus (exams the reader read whose consensus for the class
  is resolved): sensitivity TP/(TP+FN), specificity TN/(TN+FP), PPV TP/(TP+FP),
  F1 2TP/(2TP+FP+FN). The reader's own read is part of most consensus rules, which
  flatters these numbers; say so when reporting them.

The per-exam weights 1/n and 1/(n-1) are applied after summing, per number of readers
``n``, so the counts stay integers: ``T[n]`` exams read by n readers, ``X[n] = sum s``,
``Q[n] = sum s^2`` over those exams.

Undefined values
----------------
A statistic whose denominator is zero is undefined: ``None`` in the report (never NaN,
never a silent 0) with a reason in the class's ``undefined`` dict; internally NaN. A
class with no positive reads has undefined kappa, alpha and positive agreement; its
observed agreement, PABAK, AC1 and negative agreement are well defined (all 1) and
reported as such, next to ``n_positive_reads = 0``.

Bootstrap
---------
95% intervals by the Poisson bootstrap over exams (Hanley & MacGibbon 2006, Comput
Methods Programs Biomed 83:57; Chamandy et al. 2012): replicate ``b`` gives exam ``e``
the weight ``w_eb ~ Poisson(1)``, a pure function of ``(seed, exam key, b)``
(:func:`poisson_weights`), so chunking does not change it and replicate counts merge
by addition like the point counts. The interval is the 2.5th and 97.5th percentile
(linear interpolation) of the replicate statistics; replicates where the statistic is
undefined are dropped, and the interval is ``None`` when more than half are.

Modules
-------
:mod:`~annotator.agreement.counts` (:class:`Counts`, :func:`count_chunk`,
:func:`merge`; the per-exam features it sums in
:mod:`~annotator.agreement.features`), :mod:`~annotator.agreement.weights`
(:func:`poisson_weights`), :mod:`~annotator.agreement.formulas` (the statistics from
counts) and :mod:`~annotator.agreement.report` (:func:`report`); the public names
are re-exported here: ``from annotator import agreement; agreement.report(...)``.
"""

from __future__ import annotations

from annotator.agreement.counts import Counts, count_chunk, merge
from annotator.agreement.formulas import CLASS_STATISTICS, READER_STATISTICS
from annotator.agreement.report import report
from annotator.agreement.weights import poisson_weights

__all__ = [
    "CLASS_STATISTICS",
    "READER_STATISTICS",
    "Counts",
    "count_chunk",
    "merge",
    "poisson_weights",
    "report",
]
