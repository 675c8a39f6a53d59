"""Named benchmark jobs: each is a list of commands run in order from the repository root.

``{py}`` is the running interpreter, ``{jb}`` the jupyter-book executable next to it and
``{out}`` a JSON file the job may fill with its own measurements (throughput, ...).
"""

JOBS = {
    # The whole book: data generation (from scratch), every notebook, the HTML build.
    "book-smoke": [
        "{py} -m avlib.data all --scale smoke --fresh",
        "{py} -m avlib.run --scale smoke",
        "{jb} build . --builder html --keep-going",
    ],
    "book-cpu": [
        "{py} -m avlib.data all --scale cpu --fresh",
        "{py} -m avlib.run --scale cpu",
        "{jb} build . --builder html --keep-going",
    ],
    "tests": ["{py} -m pytest -q -p no:cacheprovider"],
    # Throughput and generation scripts of each area (they write their own details to {out}).
    "instruments": ["{py} benchmarks/bench_instruments.py --out {out}"],
    "speech": ["{py} benchmarks/bench_speech.py --out {out}"],
    "icmr": ["{py} benchmarks/bench_icmr.py --out {out}"],
    "ismir": ["{py} benchmarks/bench_ismir.py --out {out}"],
    "xflow": ["{py} benchmarks/bench_xflow.py --out {out}"],
    # Validation curves that set the XFlow cpu epochs (writes the CSV the crossval page shows).
    "xflow-convergence": ["{py} benchmarks/bench_xflow.py --convergence --data-root data "
                          "--out benchmarks/results/xflow_convergence.csv"],
    "icmr-profile": ["{py} benchmarks/bench_icmr.py --profile-cpu --out {out}"],
}
