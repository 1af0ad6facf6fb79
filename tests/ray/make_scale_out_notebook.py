"""Write notebooks/05-scale-out.ipynb from code (without outputs), so that it is reviewed as code; then
`python tests/ray/run_notebook_on_ray.py` runs it against a loopback Ray cluster and stores the outputs.
(scripts/make_notebooks.py writes notebooks 01 to 04 the same way; this one can join it there.)"""

import textwrap
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook


def md(t):
    return new_markdown_cell(textwrap.dedent(t).strip())


def code(t):
    return new_code_cell(textwrap.dedent(t).strip())


cells = [
    md("""
        # Scale out: the quickstart on a Ray cluster (and PostgreSQL)

        When one machine is no longer enough, the commands stay the same; two settings change:

        | setting | what it does |
        | --- | --- |
        | `MAAS_BACKEND=ray` (with `MAAS_RAY_ADDRESS=HOST:PORT` of the cluster's head) | every endpoint version becomes a Ray Serve deployment with `--replicas N` (or `--min-replicas`/`--max-replicas`); each replica runs the same ONNX Runtime session code, batching included; our V2 REST/gRPC front validates requests and forwards them to the deployment; `%%maas job` runs on a cluster node with the CPUs/GPUs it asks for |
        | `MAAS_DATABASE_URL=postgresql+psycopg://USER:PASSWORD@HOST:5432/DB` | the registry, endpoint desired state and history in PostgreSQL, shared by every server of a team (same Alembic migrations) |

        Set them where the server starts (`maas serve`, `jupyter lab`) or, as here, in the kernel before
        `%load_ext maas_jupyter`: in a kernel without a Jupyter server the endpoints run in a `maas serve` child
        of the kernel, which inherits them.

        **Without `MAAS_RAY_ADDRESS`** the serving process starts a private single-node Ray on loopback. Ray Serve
        replicas listen on every interface of the machine, so on a shared host join a real cluster instead,
        or run the notebook inside a network namespace that holds only loopback
        (`unshare --net sh -c 'ip link set lo up && jupyter nbconvert --execute …'`), as the tests do.
        Needs the `ray` extra: `pip install "maas-jupyter[ray]"`.
    """),
    code("""
        import os
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")      # TensorFlow: warnings and errors only

        os.environ["MAAS_BACKEND"] = "ray"                      # setting 1: endpoints on Ray Serve
        # os.environ["MAAS_RAY_ADDRESS"] = "10.0.0.5:6379"      # the cluster to join (unset: a private one)
        # os.environ["MAAS_DATABASE_URL"] = "postgresql+psycopg://maas:secret@db.internal:5432/maas"   # setting 2
        print("backend:", os.environ["MAAS_BACKEND"], "| cluster:", os.environ.get("MAAS_RAY_ADDRESS", "private, on loopback"),
              "| database:", "PostgreSQL" if os.environ.get("MAAS_DATABASE_URL", "").startswith("postgresql") else "SQLite in MAAS_HOME")
    """),
    code("""
        %load_ext maas_jupyter
        import numpy as np
        import keras
        from maas_jupyter.datasets import mnist

        keras.utils.set_random_seed(0)
        (x_train, y_train), (x_val, y_val), (x_test, y_test) = mnist()   # offline
        x_train, y_train = x_train[:20000], y_train[:20000]
        %maas info
    """),
    md("## 1. Train and register, exactly as on one machine"),
    code("""
        model = keras.Sequential([keras.Input((784,), name="pixels"),
                                  keras.layers.Dense(128, activation="relu"),
                                  keras.layers.Dense(10, activation="softmax", name="digits")])
        %maas train model --data x_train,y_train --val x_val,y_val --epochs 2 --optimizer adam --lr 0.002 --batch-size 64
    """),
    code("""
        %maas register model --name mnist --sample x_test[:256] --description "784-128-10, Adam"
        versions = %maas versions mnist
        v1 = int(versions.index[-1])
        versions
    """),
    md("""
        ## 2. Deploy with two replicas

        The one new flag: `--replicas 2`. The model's bytes travel to the replicas through Ray's object store
        (workers need no shared file system). The first deploy on a fresh cluster starts Serve's controller and
        the replica processes, so it takes longer than a local deploy.
    """),
    code("%maas deploy mnist@{v1} --replicas 2"),
    code("""
        probabilities = %maas predict mnist x_test[:8]
        keras_probabilities = model.predict(x_test[:8], verbose=0)
        print("served:", probabilities.argmax(1), " labels:", y_test[:8])
        assert np.abs(probabilities - keras_probabilities).max() < 1e-4
    """),
    md("""
        Each loaded version reports its replicas (`RUNNING: 2`); `%maas info` (and the management API's
        `GET …/api/info`) lists the cluster's nodes and every endpoint's replicas.
    """),
    code("""
        import maas_jupyter, requests

        server = maas_jupyter.connection()
        endpoint = requests.get(f"{server.api}/deployments/mnist", headers=server.headers, timeout=30).json()
        print("scaling:", endpoint.get("scaling"), "| loaded:", endpoint["loaded"])
        assert endpoint["loaded"][0].get("replicas", {}).get("RUNNING") == 2
    """),
    code("""
        info = %maas info
        for key in ("backend", "ray_address", "nodes", "endpoints"):
            print(f"{key:>12}: {info.loc[key, 'value'] if key in info.index else '-'}")
        assert sum(node["alive"] for node in info.loc["nodes", "value"]) >= 1
    """),
    md("""
        ## 3. A new version: swap, roll back

        A swap brings the new version's replicas up and warms them before traffic moves; the old replicas
        finish the requests they hold, then stop. Rolling back is one command, and nothing fails meanwhile.
    """),
    code("""
        model.fit(x_train, y_train, epochs=1, batch_size=64, verbose=0)
        %maas register model --name mnist --sample x_test[:256] --description "one more epoch"
        versions = %maas versions mnist
        v2 = int(versions.index[-1])
        %maas deploy mnist@{v2}
    """),
    code("""
        %maas rollback mnist
        endpoints = %maas endpoints
        assert int(endpoints.loc["mnist", "version"]) == v1
        %maas history mnist
    """),
    md("""
        ## 4. Scale in place, then clean up

        Deploying the version that already serves with other scaling flags rescales it in place
        (`--min-replicas 1 --max-replicas 3` turns on Serve's autoscaling instead).
    """),
    code("""
        %maas deploy mnist@{v1} --replicas 1
        %maas endpoints
    """),
    code("%maas undeploy mnist"),
    md("""
        ## 5. A training job on the cluster

        `%%maas job` runs the cell as a training script on a Ray node that has the CPUs it asks for
        (`--cpus`, and `--gpus` on a cluster with GPUs). The node needs neither the registry database nor
        shared files: the worker trains and converts to ONNX there, its log and training events stream back,
        and the server records the run and registers the version with its lineage. `%maas watch --wait`
        shows the live curve until the job ends (without `--wait` the notebook stays free meanwhile).
    """),
    code("""
        %%maas job mnist --cpus 1 --epochs 2 --optimizer adam --batch-size 64
        import keras
        from maas_jupyter.datasets import mnist

        (x_train, y_train), (x_val, y_val), _ = mnist()
        x_train, y_train, x_val, y_val = x_train[:10000], y_train[:10000], x_val[:2000], y_val[:2000]
        model = keras.Sequential([keras.Input((784,), name="pixels"),
                                  keras.layers.Dense(64, activation="relu"),
                                  keras.layers.Dense(10, activation="softmax", name="digits")])
    """),
    code("""
        job_id = int(_.index[0])
        %maas watch {job_id} --wait
        jobs = %maas jobs
        job = jobs.loc[job_id]
        print(job["state"], "| resources:", job["resources"], "| version:", job["registered_version"])
        assert job["state"] == "SUCCEEDED"
        %maas versions mnist
    """),
]
nb = new_notebook(
    cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
)
nbformat.write(nb, Path(__file__).resolve().parents[2] / "notebooks" / "05-scale-out.ipynb")
