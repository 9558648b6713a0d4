"""The single, deliberate seam between the tests and bncheck's internals, for white-box tests.

Tests use the public API: ``bncheck`` and ``bncheck.bn`` (``bncheck.bn.kernels()`` says which
kernels run), ``bncheck.verify`` / ``bncheck.check.verify`` and
``bncheck.check.VerificationReport``, ``bncheck.exceptions``, and the public modules of
``bncheck.check`` and ``bncheck.report``. A test that must reach inside (process isolation, the
wire codec, kernel selection, the mistake catalogue, ...) imports the private name from here and
from nowhere else: tests/test_layout.py fails on any other import of a private module or name (a
dotted path with a component starting with ``_``, monkeypatch targets and subprocess snippets
included). When an internal moves or is renamed, its one row in ``_SEAM`` is the one edit.

Each name is loaded on first use (a module ``__getattr__``), so importing this module loads
nothing, and a test pulls in only the internals (and optional dependencies: the engine needs
mpmath and Hypothesis, the report helpers matplotlib or tabulate) that it imports itself.

Why each name is needed:

Kernel selection and the compiled extension (tests/bn/test_kernels.py, test_kernel_threads.py,
test_input_limits.py, test_fallback_cancellation.py)
    compiled
        ``bncheck.bn._compiled``, the C kernels' wrapper: the tests pin its thread split
        (``_usable_cpus``, ``_ranges``, ``num_threads``, ``last_threads``, ``openmp``,
        ``_THREADS_WARNED``), read ``load_error`` and call the extension (``_ext``,
        ``backward``) with arguments the public functions never pass.
    numpy_kernels
        ``bncheck.bn._numpy_kernels``, the NumPy fallback: its ``projected_dx`` is counted to
        prove that the cancellation path really runs.
    working
        ``bncheck.bn._compiled.working``: the kernels' operand layout, to call
        ``compiled.backward`` exactly as ``batchnorm_backward`` does.

Functional targets in any calling form (tests/check/test_pure_forms.py)
    target_layer
        ``bncheck.check._verify.targets.layer``: ``carried_state``, the values of a layer
        that carry the training batches before the last (running state it could not read as
        a running mean and variance: its running and eval checks are then not checked), told
        from a cache of the last batch (tests/check/test_discovery.py).
    target_common
        ``bncheck.check._verify.targets.common``: ``from_dict``, how a dict a forward or a
        backward returns is read (a named output first, else the one value of x's shape, else
        refused), ``split_grads`` and ``grads_from_dict``, the forms of (dx, dgamma, dbeta) a
        backward may return, ``y_and_cache`` and ``backward_in_order``, which of a forward's
        pair is y and which order a backward takes its cache in (tests/check/
        test_nested_grads.py), and ``one_by_keyword``, how a keyword-only forward or backward
        gets its array (tests/check/test_discovery.py), tested on their boundaries, not only
        through ``verify``.
    family_targets
        ``bncheck.check._verify.targets.family``: ``returned_grads``, the forms of a family
        member's backward result (dx alone, with dgamma, nested pairs and dicts), tested on
        its boundaries (tests/check/test_nested_grads.py); ``scale_offset``, c of gamma =
        parameter + c from a layer's outputs, on every branch (tests/check/test_family_forms.py).

The normalization family in verify (tests/check/test_verify_family.py)
    family_checks
        ``bncheck.check._verify.checks.family``: its candidates, cases, RMS budget
        (``rms_compare``) and identities (``identity_errors``) are tested on their own, on
        the truth and on a perturbed output, not only through ``verify``.

Regular files only (tests/bn/test_file_kinds.py, test_file_safety.py)
    safe_files
        ``bncheck.bn._safe_files``, how save and load touch files: the tests set its
        ``_O_TMPFILE`` to 0 to force the named temporary files used where the system has no
        anonymous ones, and ask ``_open_anonymous`` whether a folder has them.

The family's compiled kernels (tests/family/test_fast_path.py)
    family_compiled
        ``bncheck.family._compiled``: ``available()`` says whether the extension loaded, so the
        float32 fast-path tests skip cleanly without it.
    family_round_dd
        ``bncheck.family.dd.round_dd``: the single rounding of a double-double to float32,
        tested on float32 midpoints.

The checker's conditions (tests/bn/test_functional.py)
    columns
        ``bncheck.check.conditions.channel_columns``: the (m, C) float64 view the metrics judge
        by, so that a per-channel bound is taken over the same columns.

A target that does not answer in time (tests/check/test_unanswered.py)
    unanswered_not_checked
        ``bncheck.check._verify.results.unanswered_not_checked``: which failed checks a
        timeout turns into not-checked ones, decided row by row (boundaries: a measured error
        over budget, a named mistake, another message).

Process isolation (tests/check/test_verify_hostile.py)
    TargetProcess
        ``bncheck.check._verify.process.worker.TargetProcess``: the target's process, driven
        directly with hostile adapters (hang, flood, fork, crash) and killed with its parent.
    load_adapter
        ``bncheck.check._verify.targets.dispatch.load_adapter``: the loader a spawned target process
        imports, as ``verify`` uses it.
    CheckId
        ``bncheck.check._verify.results.CheckId``: a check's typed identity (family, rank,
        dtype, layout), parsed from and printed as its id (tests/check/test_check_identity.py).
    frameworks
        ``bncheck.check._verify.targets.frameworks``: the framework registry (``Framework``,
        ``register``, ``registry``, ``framework_adapter``, ``GROUP``), to register a fake
        third-party framework (tests/check/test_framework_registry.py); how it calls a factory
        and finds a framework's layer held in a user's object (``factory_arity``,
        ``call_factory``, ``factory_framework``, ``held_by``;
        tests/check/test_verify_framework_forms.py).
    adapter_protocol
        ``bncheck.check._verify.process.adapter``: the ``Adapter`` protocol every adapter must
        satisfy and ``OPS``, the only calls the target process answers
        (tests/check/test_adapter_protocol.py); ``copy_out`` and ``COPIED_FROM``, how an
        adapter's copy of a target's array is traced back to it (tests/check/
        test_kept_outputs.py).
    target_child
        ``bncheck.check._verify.process.child``: ``kept_outputs``, which returned arrays the
        target process watches for changes by later calls, and ``changed_names``, which
        watched arrays a call changed, bit for bit (tests/check/test_kept_outputs.py).
    compile_cache
        ``bncheck.check._verify.process.compile_cache``: the JAX compilation cache of the target
        process: ``resolve`` (which folder a setting names), ``environment`` and ``use`` (what
        the target process sets, and when it leaves JAX alone), ``prune`` (the size limit),
        each decided on its boundaries (tests/check/test_compile_cache.py).

The wire codec (tests/check/test_verify_hostile.py)
    frames
        ``bncheck.check._verify.process.frames``: the frame header (``MAGIC``) a hostile target
        forges.
    wire
        ``bncheck.check._verify.process.wire``: ``encode``/``decode``, ``Unsupported`` and
        ``WireError``, fed malformed payloads.

The verify engine's own decisions, tested one module at a time (tests/check/test_wire.py,
test_frames.py, test_names.py, test_layout_detection.py, test_layer_probes.py,
test_fits.py, test_fitted_constants.py, test_eval_check.py, test_descriptions.py)
    names
        ``bncheck.check._verify.targets.names``: the name tables, ``find_pair``, ``Slot``,
        ``c_valued_slots`` and ``scalar_attr``, called on small objects.
    layout
        ``bncheck.check._verify.targets.layout``: ``mode_of``, ``call_forward`` and
        ``construction_of``, every branch of the mode detection; ``mode_candidates``,
        ``string_constants`` and ``Layout``, the switches discovery tries
        (tests/check/test_discovery.py).
    rejects_rank
        ``bncheck.check._verify.results.rejects_rank``: whether what a target raised on an input
        rank reads as a refusal of that rank or a crash (tests/check/test_coverage_verdict.py).
    broke_on_rank
        ``bncheck.check._verify.results.broke_on_rank``: what a rank not checked says, a crash
        told from an output of another shape (tests/check/test_coverage_verdict.py).
    values
        ``bncheck.check._verify.targets.values``: ``Path``, ``parse_path`` and ``leaves``, the
        values of a target wherever they live (tests/check/test_discovery.py).
    output_follows
        ``bncheck.check._verify.targets.layer._changed``: whether every channel of a layer's
        output moved when bncheck changed its parameters (the parameter probe's criterion).
    fits
        ``bncheck.check._verify.diagnosis.fits``: ``diagnose_forward``, ``diagnose_backward``
        and ``diagnose_eval`` fed outputs built from closed forms.
    sizes
        ``bncheck.check._verify.diagnosis.sizes``: ``Sizes``, ``Reading`` and ``readings``, the
        expressions of the batch's sizes a fitted constant is read as, and their ambiguities.
    check_eval
        ``bncheck.check._verify.checks.running.check_eval``: the eval checks, driven by a fake
        target process.
    running_set_size
        ``bncheck.check._verify.checks.running.set_size``: how many values the running check's
        unbiased factor counts per set, BN's batch or one instance (InstanceNorm's running
        statistics, tests/check/test_verify_family_running.py).
    checked_description, MAX_CHANNELS
        ``bncheck.check._verify.results``: the check of what a target process says it is.
    kernel_inputs
        ``bncheck.check._verify.checks.inputs``: the kernel cases (``KERNEL_CASES``,
        ``kernel_cases``), ``laid_out`` for a target's own channel axis, the search strategy
        and the shrinker keeping a layout (tests/check/test_kernel_inputs.py).
    large_truth
        ``bncheck.check._verify.checks.large_truth``: the double-double reference for large
        inputs, compared with the mpmath truth (tests/check/test_kernel_inputs.py).

The mistake catalogue (tests/check/test_mistake_models.py, test_verify.py,
test_verify_distributed.py)
    MISTAKES, Mistake, mistake_outputs
        ``bncheck.check._verify.diagnosis.mistakes``: every row must have a wrong implementation, a
        fix and a model whose outputs are the mistake it names.

Running-statistics conventions in the engine (tests/bn/test_running_conventions.py,
tests/check/test_tolerances_table.py)
    CONVENTION_CHOICES
        ``bncheck.check._verify.CONVENTION_CHOICES``: verify's choices, derived from the table.
    ALTERNATIVES, DEFAULT_BIAS
        ``bncheck.check._verify.checks.running``: the diagnosis of a wrong convention, derived
        from the table.
    running_matches
        ``bncheck.check._verify.checks.running._matches``: how verify matches running
        statistics, in units of exactly the running budget.
    judge_running
        ``bncheck.check._verify.checks.running._judge_running``: the running check's verdict on
        a trajectory (tests/check/test_framework_conventions.py: the documented conventions,
        the debiasing fit, float32 arithmetic named).
    running_after_reset, frozen_edges, layer_driver, backward_arguments
        ``bncheck.check._verify.checks.running._running_after_reset`` and
        ``bncheck.check._verify.checks.behaviour._frozen_edges``: a layer's own reset of its
        running statistics and its parameters frozen, each judged; ``LayerDriver`` from
        ``bncheck.check._verify.targets.layer_driver``, whose ``freeze`` and ``reset_running``
        ops answer for those (tests/check/test_reset_and_freeze.py), and ``backward_arguments``
        from the same module, how a backward taking more than dy gets its arguments, and
        ``returned_order`` from ``bncheck.check._verify.targets.layer``, the order a
        backward's code names its parameter gradients in (tests/check/test_discovery.py).

Framework conventions (tests/check/test_framework_conventions.py)
    debias, mixed_train
        ``bncheck.check._verify.diagnosis.debias`` and ``.mixed_train``: the fitted model of a
        zero-debiased average that did not start at 0, and the train step of Equinox's ema mode
        (its gradients checked against finite differences).
    probes
        ``bncheck.check._verify.targets.frameworks.probes``: the variance read from y.

The JAX-family targets' transfers (tests/check/test_framework_trees.py)
    trees
        ``bncheck.check._verify.targets.frameworks.trees``: ``put_array``, ``cast_tree`` and
        ``Built``, shown to compile no program but the layer's own step.

The distributed verify (tests/check/test_verify_distributed.py)
    distributed
        ``bncheck.check._verify.distributed.run``: its ``importlib.util.find_spec`` is patched to
        simulate a machine without PyTorch.
    BETWEEN, EQUAL, LOCAL, Shards, models, diagnose_backward, diagnose_forward, judge,
    merge_term, uncols
        ``bncheck.check._verify.diagnosis.sync_models``: the NumPy models of the synchronisation
        mistakes, checked to tell the merges apart and to name each mistake.

Report helpers (tests/report/test_report_running.py, test_sync_stats.py,
tests/bn/test_running_conventions.py)
    plot
        ``bncheck.report._plot``: the figure helpers (``figure``, ``rounded``,
        ``log_xticks``).
    running_exact
        ``bncheck.report._running_exact``: the result types of the exact running-statistics
        simulation (``Precise``, ``Gap``, ``Merging``).
    running_stats_intro
        ``bncheck.report.running_stats._intro``: the conventions table of the running report.
    equal_weight_closed_form
        ``bncheck.report.sync_stats._equal_weight_closed_form``: the closed form the measured
        equal-weight error is checked against.
"""

from __future__ import annotations

import importlib
from typing import Any

#: name here -> (module, attribute of that module or None for the module itself)
_SEAM: dict[str, tuple[str, str | None]] = {
    # kernel selection and the compiled extension
    "compiled": ("bncheck.bn._compiled", None),
    "numpy_kernels": ("bncheck.bn._numpy_kernels", None),
    "working": ("bncheck.bn._compiled", "working"),
    "family_compiled": ("bncheck.family._compiled", None),
    "target_common": ("bncheck.check._verify.targets.common", None),
    "target_layer": ("bncheck.check._verify.targets.layer", None),
    "family_targets": ("bncheck.check._verify.targets.family", None),
    "family_round_dd": ("bncheck.family.dd", "round_dd"),
    # regular files only
    "safe_files": ("bncheck.bn._safe_files", None),
    # the checker's conditions
    "columns": ("bncheck.check.conditions", "channel_columns"),
    # process isolation
    "TargetProcess": ("bncheck.check._verify.process.worker", "TargetProcess"),
    "load_adapter": ("bncheck.check._verify.targets.dispatch", "load_adapter"),
    "adapter_protocol": ("bncheck.check._verify.process.adapter", None),
    "target_child": ("bncheck.check._verify.process.child", None),
    "compile_cache": ("bncheck.check._verify.process.compile_cache", None),
    "frameworks": ("bncheck.check._verify.targets.frameworks", None),
    "CheckId": ("bncheck.check._verify.results", "CheckId"),
    # the wire codec
    "frames": ("bncheck.check._verify.process.frames", None),
    "wire": ("bncheck.check._verify.process.wire", None),
    # the verify engine's own decisions
    "names": ("bncheck.check._verify.targets.names", None),
    "layout": ("bncheck.check._verify.targets.layout", None),
    "values": ("bncheck.check._verify.targets.values", None),
    "rejects_rank": ("bncheck.check._verify.results", "rejects_rank"),
    "broke_on_rank": ("bncheck.check._verify.results", "broke_on_rank"),
    "unanswered_not_checked": ("bncheck.check._verify.results", "unanswered_not_checked"),
    "output_follows": ("bncheck.check._verify.targets.layer", "_changed"),
    "fits": ("bncheck.check._verify.diagnosis.fits", None),
    "sizes": ("bncheck.check._verify.diagnosis.sizes", None),
    "check_eval": ("bncheck.check._verify.checks.running", "check_eval"),
    "running_set_size": ("bncheck.check._verify.checks.running", "set_size"),
    "checked_description": ("bncheck.check._verify.results", "checked_description"),
    "MAX_CHANNELS": ("bncheck.check._verify.results", "MAX_CHANNELS"),
    "kernel_inputs": ("bncheck.check._verify.checks.inputs", None),
    "large_truth": ("bncheck.check._verify.checks.large_truth", None),
    "family_checks": ("bncheck.check._verify.checks.family", None),
    # the mistake catalogue
    "MISTAKES": ("bncheck.check._verify.diagnosis.mistakes", "MISTAKES"),
    "Mistake": ("bncheck.check._verify.diagnosis.mistakes", "Mistake"),
    "mistake_outputs": ("bncheck.check._verify.diagnosis.mistakes", "mistake_outputs"),
    # running-statistics conventions in the engine
    "CONVENTION_CHOICES": ("bncheck.check._verify", "CONVENTION_CHOICES"),
    "ALTERNATIVES": ("bncheck.check._verify.checks.running", "ALTERNATIVES"),
    "DEFAULT_BIAS": ("bncheck.check._verify.checks.running", "DEFAULT_BIAS"),
    "running_matches": ("bncheck.check._verify.checks.running", "_matches"),
    "judge_running": ("bncheck.check._verify.checks.running", "_judge_running"),
    "running_after_reset": ("bncheck.check._verify.checks.running", "_running_after_reset"),
    "frozen_edges": ("bncheck.check._verify.checks.behaviour", "_frozen_edges"),
    "layer_driver": ("bncheck.check._verify.targets.layer_driver", "LayerDriver"),
    "backward_arguments": ("bncheck.check._verify.targets.layer_driver", "backward_arguments"),
    "returned_order": ("bncheck.check._verify.targets.layer", "returned_order"),
    "debias": ("bncheck.check._verify.diagnosis.debias", None),
    "mixed_train": ("bncheck.check._verify.diagnosis.mixed_train", None),
    "probes": ("bncheck.check._verify.targets.frameworks.probes", None),
    "trees": ("bncheck.check._verify.targets.frameworks.trees", None),
    # the distributed verify
    "distributed": ("bncheck.check._verify.distributed.run", None),
    "BETWEEN": ("bncheck.check._verify.diagnosis.sync_models", "BETWEEN"),
    "EQUAL": ("bncheck.check._verify.diagnosis.sync_models", "EQUAL"),
    "LOCAL": ("bncheck.check._verify.diagnosis.sync_models", "LOCAL"),
    "Shards": ("bncheck.check._verify.diagnosis.sync_models", "Shards"),
    "models": ("bncheck.check._verify.diagnosis.sync_models", "models"),
    "diagnose_backward": ("bncheck.check._verify.diagnosis.sync_models", "diagnose_backward"),
    "diagnose_forward": ("bncheck.check._verify.diagnosis.sync_models", "diagnose_forward"),
    "judge": ("bncheck.check._verify.diagnosis.sync_models", "judge"),
    "merge_term": ("bncheck.check._verify.diagnosis.sync_models", "merge_term"),
    "uncols": ("bncheck.check._verify.diagnosis.sync_models", "uncols"),
    # report helpers
    "plot": ("bncheck.report._plot", None),
    "running_exact": ("bncheck.report._running_exact", None),
    "running_stats_intro": ("bncheck.report.running_stats", "_intro"),
    "equal_weight_closed_form": ("bncheck.report.sync_stats", "_equal_weight_closed_form"),
}

__all__ = sorted(_SEAM)


def __getattr__(name: str) -> Any:
    if name not in _SEAM:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attribute = _SEAM[name]
    value: Any = importlib.import_module(module)
    if attribute is not None:
        value = getattr(value, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_SEAM))
