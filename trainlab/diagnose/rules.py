"""The doctor's rules: each reads a run's evidence and returns findings (an empty list when healthy).

Thresholds are chosen so that healthy runs stay silent (tests run a dozen healthy recipes) while
each induced pathology is caught (tests induce each one); every threshold is named here. A finding
that rests on a difference between noisy estimates (validation loss, error rates, a loss spike) is a
warning only when the difference exceeds ``NOISE_FACTOR`` times its noise (:mod:`.noise`); every
finding carries its :class:`Confidence`. :func:`run_rules` runs them and drops any remedy the recipe
already has.
"""
from __future__ import annotations

import itertools
import math
import re
import statistics
from collections.abc import Callable

from trainlab.diagnose.evidence import RunEvidence
from trainlab.diagnose.findings import Confidence, Finding, Remedy, bias_variance, new_remedies
from trainlab.diagnose.noise import MIN_VAL_EXAMPLES, NOISE_FACTOR, binomial_se, difference_noise, loss_se
from trainlab.nn.activations import activation_fact

DIVERGE_FACTOR = 1.05  # final loss above 105 % of the first epoch's: training made things worse
EXPLODED_FACTOR = 10.0  # an epoch's cross-entropy above 10× that of a uniform guess (ln K)
SPIKE_FACTOR = 1.5  # an epoch's loss above 150 % of the best so far is a spike
OSCILLATION_SIGN_CHANGES = 0.6  # share of epochs where the loss changes direction
OSCILLATION_AMPLITUDE = 0.05  # mean |Δloss| relative to the loss level
SLOW_TOTAL_DROP = 0.25  # a steady decline that removed under 25 % of the first loss in all epochs
PLATEAU_RANGE = 0.01  # relative range of the loss over the last half of training
OVERFIT_RISE = 1.15  # final validation loss above 115 % of its minimum
VANISHING_RATIO = 1e-2  # first layer's gradient norm below 1 % of the largest layer's
EXPLODING_RATIO = 1e2  # first layer's gradient norm over 100× the last layer's
EXPLODING_RELATIVE = 10.0  # a layer's gradient norm over 10× its weight norm (healthy nets: well below 1)
SATURATED = 0.5  # half the units of a layer within 1 % of the activation's bound
DEAD = 0.5  # half the units of a ReLU layer silent on a whole batch
IMBALANCE = 5.0  # largest class over smallest class
INPUT_MEAN, INPUT_STD = 3.0, (0.1, 10.0)  # inputs far from zero mean / unit variance
TARGET_SCALE = 10.0  # regression targets with |mean| or std above this, trained unscaled


def _finite(values: list[float]) -> list[float]:
    return [v for v in values if math.isfinite(v)]


def _lower_lr(run: RunEvidence, factor: float, why: str) -> Remedy:
    return Remedy({"optim.lr": float(f"{run.lr / factor:.3g}")}, why)


def _init_for(run: RunEvidence) -> str:
    return "xavier_normal" if activation_fact(run.activation, "bounded") else "he_normal"


def _batchnorm(run: RunEvidence) -> list[Remedy]:
    if run.model_name in ("mlp", "cnn1d", "cnn2d"):
        return [Remedy({"model.batchnorm": True}, "batch norm re-centres and re-scales every layer's inputs, "
                                                  "so their scale no longer depends on the initialization")]
    return []


def _clipping(run: RunEvidence) -> list[Remedy]:
    """Gradient clipping by norm, unless the recipe already clips (by norm or by value, at any threshold)."""
    optim = run.recipe.get("optim", {})
    if isinstance(optim, dict) and (optim.get("clip_norm") is not None or optim.get("clip_value") is not None):
        return []
    return [Remedy({"optim.clip_norm": 1.0}, "clipping the gradient's norm at 1 caps every step's length while "
                                             "keeping its direction, so one huge gradient cannot throw the weights "
                                             "away")]


# ---- the loss curve ----


def non_finite_loss(run: RunEvidence) -> list[Finding]:
    error = run.status.get("error", "")
    losses = run.column("loss")
    match = re.search(r"became (\S+) in epoch (\d+)", error)
    if not match and all(math.isfinite(v) for v in losses):
        return []
    epoch = int(match.group(2)) if match else next(i + 1 for i, v in enumerate(losses) if not math.isfinite(v))
    evidence: dict = {"epoch": epoch, "lr": run.lr}
    explanation = ("The loss overflowed to NaN/inf: the updates grew until the weights or activations left the "
                   "floating-point range. With a learning rate too large each step overshoots the minimum by "
                   "more than it started from, and the error grows geometrically (the lectures' divergence).")
    if run.layers():
        grads = {layer: _finite(run.probe_series(layer, "grad_norm")) for layer in run.layers()}
        grads = {layer: g for layer, g in grads.items() if g}
        if grads:
            worst = max(grads, key=lambda layer: grads[layer][-1])
            evidence.update(layer=run.layer_name(worst), grad_norm_last=grads[worst][-1],
                            grad_norm_first=grads[worst][0])
            explanation += f" Just before, {run.layer_name(worst)} had the largest gradient norm ({grads[worst][-1]:.3g})."
    where = f"; largest gradient just before: {evidence['layer']}" if "layer" in evidence else ""
    return [Finding("non_finite_loss", "error", f"the loss became non-finite in epoch {epoch} (lr {run.lr:g}){where}",
                    evidence, explanation,
                    [*_scale_targets(run), _lower_lr(run, 10, "a 10× smaller rate keeps each step inside the region "
                                                              "where the loss decreases"), *_batchnorm(run)],
                    Confidence.exact("the recorded loss is not a finite number"))]


def _chance_loss(run: RunEvidence) -> float | None:
    """Cross-entropy of a uniform guess, ln K, for classification (None for regression)."""
    k = run.status.get("data", {}).get("n_outputs")
    return math.log(k) if run.task == "classification" and k and k > 1 else None


def _explosive_at_start(run: RunEvidence) -> bool:
    """At the first probed step, before the rate could act, some layer's ‖∇W‖ exceeds 10 ‖W‖."""
    if not run.probes:
        return False
    first = min(row["step"] for row in run.probes)
    return any(row["grad_norm"] > EXPLODING_RELATIVE * row["weight_norm"] > 0
               for row in run.probes if row["step"] == first)


def learning_rate_too_high(run: RunEvidence) -> list[Finding]:
    losses = _finite(run.column("loss"))
    if len(losses) < 3 or len(losses) < len(run.history):
        return []
    chance = _chance_loss(run)
    peak = max(range(len(losses)), key=losses.__getitem__)
    exploded = chance is not None and losses[peak] > EXPLODED_FACTOR * chance
    if exploded and peak == 0 and _explosive_at_start(run):
        exploded = False  # huge from the first step, before any update: the init (exploding_gradients), not the rate
    noise = difference_noise(losses)  # the noise of a difference between two epochs of the training loss
    rise = losses[-1] - losses[0]
    diverged = losses[-1] > DIVERGE_FACTOR * losses[0] and rise > NOISE_FACTOR * noise
    if diverged or exploded:
        summary = (f"training diverged: the loss reached {losses[peak]:.3g} in epoch {peak + 1} "
                   f"(chance level {chance:.3g})" if exploded else
                   f"training diverged: loss rose from {losses[0]:.4g} to {losses[-1]:.4g}")
        return [Finding("lr_too_high", "error", summary,
                        {"peak_loss": losses[peak], "peak_epoch": peak + 1, "first_loss": losses[0],
                         "last_loss": losses[-1], "chance_loss": chance, "lr": run.lr},
                        "The loss blew up far above what even random guessing scores: steps overshoot the "
                        "minimum. In the lectures' quadratic picture, a rate above 2/λ_max makes every step "
                        "grow the error.",
                        [_lower_lr(run, 10, "a 10× smaller rate")],
                        Confidence.beyond(losses[peak], EXPLODED_FACTOR * chance, "10× the chance loss ln K")
                        if exploded else Confidence.of(rise, noise, "scatter of the training-loss curve"))]
    # a spike must also matter on the scale of the whole curve (over 5 % of the first epoch's loss)
    # and stand out of the curve's epoch-to-epoch noise
    rises = {i + 1: losses[i] - min(losses[:i]) for i in range(1, len(losses))
             if losses[i] > SPIKE_FACTOR * min(losses[:i]) and losses[i] - min(losses[:i]) > 0.05 * losses[0]
             and losses[i] - min(losses[:i]) > NOISE_FACTOR * noise}
    spikes = list(rises)
    if len(spikes) >= 2:
        return [Finding("lr_too_high", "warning", f"the loss spiked in {len(spikes)} epochs (first: epoch {spikes[0]})",
                        {"spike_epochs": spikes, "lr": run.lr},
                        "The loss jumps far above its best value again and again: single steps are too long "
                        "and throw the weights out of the valley they had reached.",
                        [_lower_lr(run, 3, "a 3× smaller rate")],
                        Confidence.of(min(rises.values()), noise, "scatter of the training-loss curve; the "
                                                                  "smallest spike"))]
    # Oscillating weights show in the validation loss, measured in eval mode on fixed examples; the
    # training loss is a running average over minibatches with dropout and batch statistics on, which
    # zig-zags by itself near convergence. So: the validation curve when there is one, and its
    # step must exceed the sampling noise of one epoch's estimate.
    val = run.column("val_loss")
    curve, n = (val, run.n_val) if len(_finite(val)) == len(losses) else (losses, run.n_train)
    deltas = [b - a for a, b in itertools.pairwise(curve)]
    if len(deltas) >= 4:
        changes = sum(1 for a, b in itertools.pairwise(deltas) if a * b < 0) / (len(deltas) - 1)
        level = statistics.fmean(curve[len(curve) // 2:])
        amplitude = statistics.fmean(abs(d) for d in deltas) / max(level, 1e-12)
        sampling = NOISE_FACTOR * loss_se(level, n, run.task) / max(level, 1e-12) if n else 0.0
        if (changes > OSCILLATION_SIGN_CHANGES and amplitude > max(OSCILLATION_AMPLITUDE, sampling)
                and level > 0.1 * curve[0]):
            return [Finding("lr_too_high", "warning",
                            f"the {'validation ' if curve is val else ''}loss oscillates: direction changed in "
                            f"{changes:.0%} of epochs, by {amplitude:.0%}",
                            {"sign_changes": changes, "relative_amplitude": amplitude, "lr": run.lr},
                            "The loss goes up and down from epoch to epoch instead of settling: the steps bounce "
                            "across the valley (the lectures' zig-zag on an elongated quadratic).",
                            [_lower_lr(run, 3, "a 3× smaller rate"),
                             Remedy({"schedule": "plateau"}, "cut the rate when the validation loss stalls")],
                            Confidence.beyond(amplitude, max(OSCILLATION_AMPLITUDE, sampling),
                                              "mean |Δloss| relative to the loss level, against 5 % or "
                                              "3× the sampling noise"))]
    return []


def learning_rate_too_low(run: RunEvidence) -> list[Finding]:
    losses = _finite(run.column("loss"))
    if len(losses) < 5 or len(losses) < len(run.history):
        return []
    falling = sum(1 for a, b in itertools.pairwise(losses) if b < a) / (len(losses) - 1)
    drop = (losses[0] - losses[-1]) / losses[0] if losses[0] > 0 else 0.0
    still_moving = losses[-2] - losses[-1] > 1e-4 * losses[-1]
    # Too small a rate declines at a steady pace; a model at its capacity decelerates instead.
    steady = losses[-2] - losses[-1] >= 0.5 * (losses[0] - losses[1])
    if falling < 0.8 or drop >= SLOW_TOTAL_DROP or not still_moving or not steady:
        return []
    evidence = {"falling_epochs": falling, "total_drop": drop, "lr": run.lr}
    ratios = _finite([row["update_ratio"] for row in run.probes]) if run.probes else []
    if ratios:
        evidence["median_update_ratio"] = statistics.median(ratios)
    return [Finding("lr_too_low", "warning",
                    f"the loss falls steadily but slowly: {drop:.0%} in {len(losses)} epochs at lr {run.lr:g}",
                    evidence,
                    "Every epoch improves a little and nothing goes wrong: the steps are simply too short. "
                    "A larger rate covers the same path in fewer epochs (a healthy update is about 1e-3 of "
                    "the weight's size per step).",
                    [Remedy({"optim.lr": float(f"{run.lr * 10:.3g}")}, "a 10× larger rate")],
                    Confidence.beyond(drop, SLOW_TOTAL_DROP, "share of the first loss removed"))]


def loss_plateau(run: RunEvidence) -> list[Finding]:
    losses = _finite(run.column("loss"))
    if len(losses) < 6 or len(losses) < len(run.history):
        return []
    tail = losses[len(losses) // 2:]
    spread = (max(tail) - min(tail)) / max(statistics.fmean(tail), 1e-12)
    accuracy = _finite(run.column("accuracy"))
    poor = accuracy[-1] < 0.9 if accuracy else losses[-1] > 0.5 * losses[0]
    falling = sum(1 for a, b in itertools.pairwise(tail) if b < a) / max(len(tail) - 1, 1)
    if spread >= PLATEAU_RANGE or losses[-1] <= 0.5 * losses[0] or not poor or falling >= 0.8:
        return []
    return [Finding("plateau", "warning",
                    f"the loss is stuck at {losses[-1]:.4g} (changed {spread:.1%} over the last {len(tail)} epochs)",
                    {"loss": losses[-1], "relative_range": spread, "epochs": [len(losses) - len(tail) + 1, len(losses)]},
                    "The loss stopped moving while the model is still poor: a plateau or saddle region, or "
                    "units that cannot differentiate. Momentum/Adam carry the weights across flat regions; "
                    "a fresh initialization scheme breaks symmetry.",
                    [Remedy({"optim.name": "adam", "optim.lr": 1e-3}, "Adam's per-weight step sizes cross flat "
                                                                      "regions"),
                     Remedy({"model.init": _init_for(run)}, "a variance-preserving initialization")],
                    Confidence.beyond(spread, PLATEAU_RANGE, "relative range of the loss over the last half"))]


# ---- generalization ----


def _train_error(run: RunEvidence) -> tuple[float, str]:
    """The final weights' training error and where it comes from: measured in evaluation mode on the
    training split (the notes, seed 000: "para comparar el error de entrenamiento con el de validación
    se debe evaluar con toda la red sin dropout"), or, for runs recorded before that, the last epoch's
    train-mode running average (dropout and noise on, weights still moving), with a caveat."""
    accuracy, eval_mode = run.train_eval("accuracy")
    source = "eval mode" if eval_mode else "train-mode running average (older run: dropout on, weights moving)"
    return 1 - accuracy, source


_CAVEAT = " (train error from the train-mode running average: this run predates eval-mode train metrics)"


def overfitting(run: RunEvidence) -> list[Finding]:
    val, train = run.column("val_loss"), run.column("loss")
    if len(_finite(val)) < 4 or len(_finite(val)) < len(val):
        return []
    best = min(range(len(val)), key=val.__getitem__)
    end = run.final_weights_epoch()  # with restore_best_weights the run keeps an earlier epoch's weights
    n_val = run.n_val
    effects: list[tuple[str, Confidence]] = []
    # The validation loss of the weights the run ended with rose 15 % above its minimum, at least three
    # epochs after it, while training improved; its noise: the curve's epoch-to-epoch scatter, or the
    # sampling error of a mean over n_val examples, the larger.
    rise = val[end] - val[best]
    if best <= end - 3 and val[end] > OVERFIT_RISE * val[best] and train[end] < train[best]:
        noise = max(difference_noise(val), loss_se(val[end], n_val, run.task) if n_val else 0.0)
        effects.append(("rise", Confidence.of(rise, noise, f"validation-loss scatter and sampling error of "
                                                            f"{n_val or '?'} examples")))
    accuracy, val_accuracy = run.column("accuracy"), run.column("val_accuracy")
    evidence: dict = {"best_val_epoch": best + 1, "best_val_loss": val[best], "final_val_loss": val[end],
                      "n_val": n_val}
    train_error, source = math.nan, ""
    if run.task == "classification" and _finite(accuracy) and math.isfinite(val_accuracy[end] if val_accuracy else math.nan):
        train_error, source = _train_error(run)
        val_error = 1 - val_accuracy[end]
        gap = bias_variance(train_error, val_error, run.bayes_error)
        if gap.high_variance:  # over the lectures' 5 points; its noise: both errors' binomial standard errors
            noise = math.hypot(binomial_se(val_error, n_val), binomial_se(train_error, run.n_train))
            effects.append(("gap", Confidence.of(gap.variance, noise, f"binomial SE of {n_val} validation and "
                                                                      f"{run.n_train} training examples")))
            evidence.update(train_error=train_error, val_error=val_error, generalization_gap=gap.variance,
                            train_error_source=source)
    if not effects:
        return []
    kind, confidence = max(effects, key=lambda e: e[1].ratio or 0.0)
    if kind == "rise":
        what = f"validation loss rose from {val[best]:.4g} (epoch {best + 1}) to {val[end]:.4g}"
    else:
        what = (f"generalization gap: train error {evidence['train_error']:.1%}, validation error "
                f"{evidence['val_error']:.1%}")
    caveat = _CAVEAT if kind == "gap" and source != "eval mode" else ""
    if n_val < MIN_VAL_EXAMPLES:
        share = f"{1 / n_val:.0%}" if n_val else "all"
        return [Finding("overfitting", "info",
                        f"{what}, but with {n_val} validation examples (one is {share} of the error) no "
                        f"judgement is possible{caveat}", evidence,
                        f"Below {MIN_VAL_EXAMPLES} validation examples one example moves the validation error by "
                        "more than the 5-point threshold of the bias/variance rule: a larger validation split "
                        "(data.val_fraction) or cross-validation is needed to see overfitting.", [], confidence)]
    if not any((c.ratio or 0.0) > NOISE_FACTOR for _, c in effects):
        return [Finding("overfitting", "info", f"{what}: within {NOISE_FACTOR:g}× the noise of the validation "
                                               f"estimate ({confidence.ratio:.2g}×), not evidence of "
                                               f"overfitting{caveat}", evidence,
                        "The difference is of the size the validation estimate varies by from epoch to epoch "
                        "and from sample to sample.", [], confidence)]
    summary = what + (" while training improved" if kind == "rise" else " (high variance)") + caveat
    summary += f"; {confidence.ratio:.2g}× the noise"
    remedies = [Remedy({"stopping.early": {"monitor": "val_loss", "patience": 5, "restore_best_weights": True}},
                       f"stop near epoch {best + 1} and keep its weights")]
    if run.model_name in ("mlp", "cnn1d", "cnn2d"):
        remedies.append(Remedy({"model.dropout": 0.3}, "dropout makes units useful on their own, not in "
                                                       "co-adapted groups"))
    remedies.append(Remedy({"penalties": [{"name": "l2", "weight": 1e-4}]}, "an L2 penalty keeps weights small"))
    return [Finding("overfitting", "warning", summary, evidence,
                    "The network fits the training set ever better while it gets worse on data it has not seen: "
                    "high variance. More data, regularization (dropout, L2, augmentation) or early stopping "
                    "shrink the gap.", remedies, confidence)]


def underfitting(run: RunEvidence) -> list[Finding]:
    accuracy, val_accuracy = run.column("accuracy"), run.column("val_accuracy")
    if run.task != "classification" or not _finite(accuracy):
        return []
    train_error, source = _train_error(run)
    end = run.final_weights_epoch()
    val_error = 1 - val_accuracy[end] if _finite(val_accuracy) else train_error
    diagnosis = bias_variance(train_error, val_error, run.bayes_error)
    if not diagnosis.high_bias:
        return []
    confidence = Confidence.of(diagnosis.avoidable_bias, binomial_se(train_error, run.n_train),
                               f"binomial SE of {run.n_train} training examples")
    evidence = {"train_error": train_error, "bayes_error": run.bayes_error, "avoidable_bias": diagnosis.avoidable_bias,
                "verdict": diagnosis.verdict, "train_error_source": source}
    caveat = _CAVEAT if source != "eval mode" else ""
    summary = f"high avoidable bias: train error {train_error:.1%} vs Bayes error {run.bayes_error:.1%}{caveat}"
    if (confidence.ratio or 0.0) <= NOISE_FACTOR:
        return [Finding("underfitting", "info", f"{summary}, within {NOISE_FACTOR:g}× its noise", evidence,
                        "The training error is above the Bayes error by no more than a few training examples' worth.",
                        [], confidence)]
    return [Finding("underfitting", "warning", summary, evidence,
                    "The model does not even fit the training set: avoidable bias (train error minus the Bayes "
                    "error). A bigger model, longer training or a better optimizer come first; regularization "
                    "would make it worse. (Give the Bayes error with --bayes-error when it is not 0.)",
                    [Remedy({"stopping.epochs": int(run.recipe.get("stopping", {}).get("epochs", 20)) * 2},
                            "train twice as long"),
                     Remedy({"optim.name": "adam", "optim.lr": 3e-3}, "an adaptive optimizer")], confidence)]


# ---- inside the network (probes) ----


def _median_by_layer(run: RunEvidence, key: str) -> dict[int, float]:
    out = {}
    for layer in run.layers():
        values = _finite(run.probe_series(layer, key))
        if values:
            out[layer] = statistics.median(values)
    return out


def vanishing_gradients(run: RunEvidence) -> list[Finding]:
    grads = _median_by_layer(run, "grad_norm")
    if len(grads) < 3:
        return []
    largest = max(grads.values())
    first = grads[min(grads)]
    if largest <= 0 or first / largest >= VANISHING_RATIO:
        return []
    weak = [layer for layer, g in grads.items() if g < VANISHING_RATIO * largest]
    remedies = []
    derivative = activation_fact(run.activation, "max_derivative")
    if activation_fact(run.activation, "bounded"):
        remedies.append(Remedy({"model.activation": "relu", "model.init": "he_normal"},
                               "ReLU's derivative is 1 for active units; He init keeps the signal's variance"))
    remedies += [Remedy({"model.init": _init_for(run)}, "a variance-preserving initialization"), *_batchnorm(run)]
    return [Finding("vanishing_gradients", "warning",
                    f"gradients vanish toward the input: layer {min(grads)} gets {first / largest:.1e} of the "
                    f"largest layer's gradient norm",
                    {"grad_norm_by_layer": grads, "weak_layers": weak, "ratio": first / largest},
                    "Backpropagation multiplies the gradient by each layer's weights and activation derivative; "
                    f"with {run.activation}{f' (derivative ≤ {derivative:g})' if derivative else ''} the "
                    "product shrinks layer after layer, so the early layers barely learn.", remedies,
                    Confidence.beyond(first / largest, VANISHING_RATIO, "first layer's median gradient norm over "
                                                                        "the largest layer's"))]


def _residual_scale(run: RunEvidence) -> Callable[[dict], float]:
    """The size of the loss's own gradient at a probe row's epoch. A cross-entropy's gradient with
    respect to the logits is bounded (‖softmax − onehot‖ ≤ √2): 1. A squared error's is 2·residual,
    so it grows with the targets' scale (diabetes targets are ~150): the RMS residual √MSE of that
    epoch, when above 1 (z-scored targets leave residuals below 1, and a near-perfect fit must not
    inflate the ratio)."""
    if run.task != "regression":
        return lambda row: 1.0
    losses = run.column("loss")

    def scale(row: dict) -> float:
        epoch = int(row["epoch"]) - 1
        loss = losses[epoch] if 0 <= epoch < len(losses) else math.nan
        return max(1.0, math.sqrt(loss)) if math.isfinite(loss) and loss > 0 else 1.0

    return scale


def exploding_gradients(run: RunEvidence) -> list[Finding]:
    """Gradients grow toward the input (‖g_1‖ / ‖g_L‖ > 100), or a layer's gradient dwarfs its weights
    (median ‖∇W‖ / ‖W‖ > 10: one plain step with rate 0.1 would move W by more than W itself)."""
    grads = _median_by_layer(run, "grad_norm")
    if len(grads) < 2:
        return []
    relative = {}
    scale = _residual_scale(run)
    for layer in grads:  # median ‖∇W‖/‖W‖ over the first epoch and over the run, the larger (training may calm it)
        rows = [r for r in run.probes if int(r["layer"]) == layer and r["weight_norm"] > 0]
        ratios = [r["grad_norm"] / r["weight_norm"] / scale(r) for r in rows if math.isfinite(r["grad_norm"])]
        early = [r["grad_norm"] / r["weight_norm"] / scale(r) for r in rows
                 if r["epoch"] == 1 and math.isfinite(r["grad_norm"])]
        if ratios:
            relative[layer] = max(statistics.median(ratios), statistics.median(early) if early else 0.0)
    huge = {layer: r for layer, r in relative.items() if r > EXPLODING_RELATIVE}
    first, last = grads[min(grads)], grads[max(grads)]
    toward_input = last > 0 and first / last > EXPLODING_RATIO
    if not toward_input and not huge:
        return []
    if toward_input:
        summary = (f"gradients explode toward the input: layer {min(grads)}'s gradient norm is "
                   f"{first / last:.3g}× the output layer's")
    else:
        worst = max(huge, key=huge.get)
        summary = (f"exploding gradients: {run.layer_name(worst)}'s gradient norm is {huge[worst]:.3g}× its weight "
                   f"norm (median over the first epoch or the run; "
                   f"{len(huge)} of {len(grads)} layers above {EXPLODING_RELATIVE:g}×)")
    return [Finding("exploding_gradients", "error", summary,
                    {"grad_norm_by_layer": grads, "grad_to_weight_by_layer": relative,
                     "ratio_first_to_last": first / last if last > 0 else math.inf},
                    "Each layer multiplies the backpropagated gradient by its weights; weights too large make the "
                    "product grow geometrically with depth (the lectures' product of random matrices), and the "
                    "loss and its gradients reach values no step size can follow.",
                    [*_scale_targets(run), Remedy({"model.init": _init_for(run)}, "a variance-preserving initialization"),
                     *_batchnorm(run), *_clipping(run), _lower_lr(run, 10, "smaller steps")],
                    Confidence.beyond(first / last, EXPLODING_RATIO, "first layer's median gradient norm over the "
                                                                     "last layer's") if toward_input else
                    Confidence.beyond(max(huge.values()), EXPLODING_RELATIVE, "median ‖∇W‖/‖W‖ of the worst layer"))]


def saturated_units(run: RunEvidence) -> list[Finding]:
    saturated = {layer: v for layer, v in _median_by_layer(run, "act_saturated").items() if v > SATURATED}
    if not saturated:
        return []
    first = min(saturated)
    remedies = [Remedy({"model.init": _init_for(run)}, "Xavier/Glorot init keeps pre-activations in the linear "
                                                       "range of the activation")]
    if first == 1 and run.recipe.get("data", {}).get("preprocess", "none") in ("none", {"name": "none"}):
        remedies.insert(0, Remedy({"data.preprocess": "zscore"}, "standardized inputs keep the first layer's "
                                                                 "pre-activations small"))
    remedies += _batchnorm(run)
    return [Finding("saturated_units", "warning",
                    f"saturated units: {', '.join(f'layer {k} {v:.0%}' for k, v in saturated.items())} of activations "
                    f"at the {run.activation} bounds",
                    {"saturated_by_layer": saturated},
                    f"Units sit where {run.activation} is flat, so their derivative is almost 0 and they pass back "
                    "no gradient; the usual cause is weights (or inputs) too large for the fan-in.", remedies,
                    Confidence.beyond(max(saturated.values()), SATURATED, "median share of saturated activations"))]


def dead_relus(run: RunEvidence) -> list[Finding]:
    final: dict[int, float] = {}
    for layer in run.layers():
        if not activation_fact(run.layer_activation(layer), "can_die"):  # a leaky unit at 0 is idle, not dead
            continue
        values = _finite(run.probe_series(layer, "act_dead"))
        if values and values[-1] > DEAD:
            final[layer] = values[-1]
    if not final:
        return []
    severity = "error" if max(final.values()) > 0.9 else "warning"
    return [Finding("dead_relus", severity,
                    f"dead ReLUs: {', '.join(f'layer {k} {v:.0%}' for k, v in final.items())} of units output 0 "
                    "for a whole batch",
                    {"dead_by_layer": final, "lr": run.lr},
                    "A ReLU whose input is negative for every example outputs 0 and gets no gradient, so it never "
                    "recovers; large steps push many units there at once.",
                    [_lower_lr(run, 10, "smaller steps do not knock units into the dead region"),
                     Remedy({"model.activation": {"name": "leaky_relu", "alpha": 0.01}},
                            "Leaky ReLU keeps a small slope for negative inputs, so no unit dies")],
                    Confidence.beyond(max(final.values()), DEAD, "share of units silent on the last probed batch"))]


def symmetric_units(run: RunEvidence) -> list[Finding]:
    matrices = sorted(((k, w) for k, w in run.weights().items() if k.endswith("weight") and w.dim() >= 2),
                      key=lambda kw: [int(p) if p.isdigit() else p for p in kw[0].split(".")])  # model order
    identical = [k for k, w in matrices[:-1] if len(w) > 1 and bool((w - w[:1]).abs().max() <= 1e-7 * (w.abs().max() + 1e-30))]
    if not identical:
        return []
    return [Finding("symmetric_units", "error",
                    f"all units of {', '.join(identical)} are identical: the symmetry was never broken",
                    {"layers": identical, "init": run.recipe.get("model", {}).get("init")},
                    "Units that start equal get equal gradients and stay equal forever, so a layer of n units "
                    "works like one unit (the lectures' zero-initialization example).",
                    [Remedy({"model.init": _init_for(run)}, "random initial weights break the symmetry")],
                    Confidence.exact("all rows of the weight matrix equal to 1e-7 of their scale"))]


# ---- the data ----


def unnormalized_inputs(run: RunEvidence) -> list[Finding]:
    stats = run.status.get("data", {}).get("input_stats")
    if not stats:
        return []
    off = stats["mean_abs_max"] > INPUT_MEAN or not INPUT_STD[0] <= stats["std_median"] <= INPUT_STD[1]
    if not off:
        return []
    first_saturated = _median_by_layer(run, "act_saturated").get(1, 0.0) > SATURATED
    return [Finding("unnormalized_inputs", "warning" if first_saturated else "info",
                    f"inputs are not normalized: feature means up to {stats['mean_abs_max']:.3g}, "
                    f"median std {stats['std_median']:.3g}" + (" and the first layer saturates" if first_saturated else ""),
                    dict(stats),
                    "Inputs far from zero mean and unit variance make the error surface elongated (slow, "
                    "zig-zagging descent) and push the first layer's units into saturation (LeCun, Efficient "
                    "BackProp).",
                    [Remedy({"data.preprocess": "zscore"}, "z-score each feature on the training split")],
                    Confidence.beyond(stats["mean_abs_max"], INPUT_MEAN, "largest |feature mean|")
                    if stats["mean_abs_max"] > INPUT_MEAN else
                    Confidence.beyond(stats["std_median"], INPUT_STD[0] if stats["std_median"] < INPUT_STD[0]
                                      else INPUT_STD[1], "median feature std"))]


def class_imbalance(run: RunEvidence) -> list[Finding]:
    counts = run.status.get("data", {}).get("class_counts")
    if not counts or min(counts) == 0 and max(counts) == 0:
        return []
    ratio = max(counts) / max(min(counts), 1)
    if ratio < IMBALANCE:
        return []
    return [Finding("class_imbalance", "warning", f"strong class imbalance: {max(counts)} vs {min(counts)} examples "
                                                  f"({ratio:.0f}:1)",
                    {"class_counts": counts, "ratio": ratio},
                    "With few examples of a class, most batches contain none, and a model that ignores the "
                    "class still scores well on accuracy; look at per-class recall.",
                    [Remedy({"data.sampler": "class_balanced"}, "every batch holds each class equally")],
                    Confidence.beyond(ratio, IMBALANCE, "largest class over smallest, counted"))]


def _unscaled_targets(run: RunEvidence) -> dict | None:
    """The raw targets' statistics when a regression run trained on them unscaled and far from unit scale."""
    stats = run.status.get("data", {}).get("target_stats")
    if not stats or stats.get("scaled") or max(stats["mean_abs_max"], stats["std_max"]) <= TARGET_SCALE:
        return None
    return stats


def _scale_targets(run: RunEvidence) -> list[Remedy]:
    if _unscaled_targets(run) is None:
        return []
    return [Remedy({"data.target_scale": "zscore"}, "train on standardized targets (metrics and predictions stay "
                                                    "in the targets' units)")]


def unscaled_targets(run: RunEvidence) -> list[Finding]:
    """Regression targets trained on raw, with a mean or standard deviation above ``TARGET_SCALE``."""
    stats = _unscaled_targets(run)
    if stats is None:
        return []
    worst = max(stats["mean_abs_max"], stats["std_max"])
    return [Finding("unscaled_targets", "warning",
                    f"regression targets far from unit scale: |mean| up to {stats['mean_abs_max']:.3g}, std up to "
                    f"{stats['std_max']:.3g}, trained unscaled (data.target_scale: none)", dict(stats),
                    "A fresh network predicts values near 0, so the squared error and its gradient 2(ŷ − y) start "
                    "as large as the targets: the first steps are huge, and a rate that suits unit-scale "
                    "targets diverges or crawls.",
                    _scale_targets(run), Confidence.beyond(worst, TARGET_SCALE, "largest target |mean| or std"))]


Rule = Callable[[RunEvidence], list[Finding]]

RULES: list[Rule] = [
    non_finite_loss, symmetric_units, exploding_gradients, vanishing_gradients, dead_relus, saturated_units,
    learning_rate_too_high, learning_rate_too_low, loss_plateau, overfitting, underfitting, unnormalized_inputs,
    class_imbalance, unscaled_targets,
]


def rule(check: Rule) -> Rule:
    """Add ``check`` to the doctor's rules (use as a decorator): ``trainlab doctor``, the report and
    the live doctor run it with the others, and its remedies are filtered against the recipe like
    theirs. The same function registered again (a notebook cell run twice) replaces itself."""
    origin = (check.__module__, check.__qualname__)
    RULES[:] = [r for r in RULES if (r.__module__, r.__qualname__) != origin] + [check]
    return check


def run_rules(run: RunEvidence, rules: list[Rule] | None = None) -> list[Finding]:
    """Every rule's findings, each without the remedies the run's recipe already has: the one place
    remedies are checked against the resolved recipe, so no rule can suggest what the run does."""
    return [new_remedies(finding, run.recipe) for check in (RULES if rules is None else rules) for finding in check(run)]
