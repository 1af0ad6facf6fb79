"""Write the example notebooks in notebooks/ from code, so that they are reviewed as code.

    python scripts/make_notebooks.py            # (re)writes every notebook, without outputs
    python scripts/make_notebooks.py 01 04      # only these
    python scripts/run_notebook.py notebooks/01-quickstart.ipynb   # then run it to store outputs

One function per notebook returns its cells; `md` and `code` take text whose common indentation is
removed. Key cells assert what they show, so a notebook that runs top to bottom is a passing test.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def md(text: str):
    return new_markdown_cell(textwrap.dedent(text).strip())


def code(text: str):
    return new_code_cell(textwrap.dedent(text).strip())


# Where this notebook's endpoints answer and the header that authorises a call: Jupyter's own token
# inside JupyterLab, the kernel's private serving process in a kernel without a server.
CONNECT = textwrap.dedent("""
    import maas_jupyter

    maas_info = %maas info
    server = maas_jupyter.connection()
    rest, api, auth = server.rest, server.api, server.headers   # V2 REST base, management API, header
    print("mode:", maas_info.loc["mode", "value"], "| V2 REST:", rest)
""").strip()


def quickstart():
    return [
        md("""
            # Quickstart: train, register, deploy, monitor, roll back

            Everything here runs offline inside this notebook: MNIST ships with the package, the model
            registry is a SQLite file in `MAAS_HOME`, and endpoints are served by ONNX Runtime over the
            Open Inference Protocol (KServe V2) in REST and gRPC.

            Inside JupyterLab the `%maas` magics talk to the Jupyter server extension (endpoints outlive the
            kernel); in a kernel without a server (nbclient, plain IPython) the same engine runs in-process.
            This notebook runs top to bottom in both, in a few minutes on a 2-core machine.
        """),
        code("""
            import os
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")   # TensorFlow: warnings and errors only
            %load_ext maas_jupyter
            %matplotlib inline
            import time
            import numpy as np
            import keras
            from maas_jupyter.datasets import mnist

            keras.utils.set_random_seed(0)
            (x_train, y_train), (x_val, y_val), (x_test, y_test) = mnist()   # offline, 50 000 / 10 000 / 10 000 rows
            x_train, y_train = x_train[:20000], y_train[:20000]              # a subset keeps the notebook quick
            print(x_train.shape, x_train.dtype, y_train[:10])
        """),
        code("%maas help"),
        md("""
            ## 1. Train with a live curve

            The smallest useful model: 784 pixels → 10 ReLU units → 10 softmax outputs. `%maas train` compiles
            it (the loss is inferred from the integer labels), trains it with the optimiser and learning rate
            given, shows the loss per batch and per epoch as it goes, and records the run (params, metrics
            per epoch, duration). In JupyterLab the curve is a live widget; once the run ends the same
            output also carries a static image, which is what you see on a repository page.
        """),
        code("""
            def mlp(hidden):
                # 784 pixels -> `hidden` ReLU units -> 10 softmax outputs; named input and output
                return keras.Sequential([keras.Input((784,), name="pixels"),
                                         keras.layers.Dense(hidden, activation="relu"),
                                         keras.layers.Dense(10, activation="softmax", name="digits")])

            small = mlp(10)
            %maas train small --data x_train,y_train --val x_val,y_val --epochs 2 --optimizer adam --lr 0.01 --batch-size 64
        """),
        code("""
            small_accuracy = small.evaluate(x_test, y_test, verbose=0)[1]
            print(f"784-10-10 test accuracy: {small_accuracy:.3f}")
            assert small_accuracy > 0.85
        """),
        md("A wider hidden layer (784 → 128 → 10) does better:"),
        code("""
            model = mlp(128)
            %maas train model --data x_train,y_train --val x_val,y_val --epochs 3 --optimizer adam --lr 0.002 --batch-size 64
        """),
        code("""
            accuracy = model.evaluate(x_test, y_test, verbose=0)[1]
            print(f"784-128-10 test accuracy: {accuracy:.3f}")
            assert accuracy > 0.93
            %maas runs
        """),
        md("""
            ## 2. Register a version

            Registration converts the Keras model to ONNX and runs both on `--sample` before the version exists:
            if they differ by more than the tolerance (1e-4) nothing is registered. The version is immutable and
            carries its sha256, its input/output signature and the run that produced it. `--reference` keeps a
            summary of the training inputs, which the served inputs are compared with later (section 4).
        """),
        code("""
            %maas register model --name mnist --sample x_test[:256] --reference x_train --description "784-128-10, Adam"
        """),
        md("A registration answers in one line; `%maas versions` is the table:"),
        code("""
            versions = %maas versions mnist
            v1 = int(versions.index[-1])
            versions
        """),
        md("""
            ## 3. Deploy and predict three ways

            `%maas deploy` starts an endpoint (here named like the model) that serves the version with ONNX Runtime
            and dynamic batching. `%maas predict` takes a numpy array and returns numpy:
        """),
        code("%maas deploy mnist@{v1} --as mnist"),
        code("""
            probabilities = %maas predict mnist x_test[:8]
            keras_probabilities = model.predict(x_test[:8], verbose=0)
            print("served:", probabilities.argmax(1), " labels:", y_test[:8])
            assert np.abs(probabilities - keras_probabilities).max() < 1e-4
        """),
        md("""
            The same endpoint answers any Open Inference Protocol client. `%maas info` shows where (the
            `rest` row is the V2 base URL, `grpc` the gRPC address); from code, `maas_jupyter.connection()`
            and `maas_jupyter.endpoint(name)` give the addresses and the header to send.
        """),
        code(CONNECT + "\nmaas_info"),
        md("With plain `requests`, the V2 JSON body (`inputs` with name, shape, datatype and data):"),
        code("""
            import requests

            metadata = requests.get(f"{rest}/models/mnist", headers=auth, timeout=30).json()
            input_name, output_name = metadata["inputs"][0]["name"], metadata["outputs"][0]["name"]
            body = {"inputs": [{"name": input_name, "shape": [8, 784], "datatype": "FP32",
                                "data": x_test[:8].ravel().tolist()}]}
            reply = requests.post(f"{rest}/models/mnist/infer", json=body, headers=auth, timeout=30)
            reply.raise_for_status()
            rest_probabilities = np.array(reply.json()["outputs"][0]["data"], dtype=np.float32).reshape(8, 10)
            print(metadata["platform"], metadata["inputs"], "-> version", reply.json()["model_version"])
        """),
        md("""
            The served result is what ONNX Runtime gives for the registered artifact, run directly here
            (the artifact comes from the management API: `…/api/models/mnist/versions/1/artifact`):
        """),
        code("""
            import onnxruntime as ort

            artifact = requests.get(f"{api}/models/mnist/versions/{v1}/artifact", headers=auth, timeout=30)
            session = ort.InferenceSession(artifact.content, providers=["CPUExecutionProvider"])
            direct = session.run(None, {session.get_inputs()[0].name: x_test[:8]})[0]
            print("max |REST - ONNX Runtime| =", np.abs(rest_probabilities - direct).max())
            assert np.allclose(rest_probabilities, direct, atol=1e-6)
            assert np.allclose(probabilities, direct, atol=1e-6)
        """),
        md("""
            With the standard Triton gRPC client (`tritonclient.grpc`). In a kernel without a server the gRPC
            port is the kernel's own serving process; inside JupyterLab only REST is exposed through Jupyter,
            so this cell says so and moves on.
        """),
        code("""
            mnist = maas_jupyter.endpoint("mnist")
            if mnist.grpc:
                import tritonclient.grpc as grpcclient

                client = grpcclient.InferenceServerClient(url=mnist.grpc)
                tensor = grpcclient.InferInput(input_name, [8, 784], "FP32")
                tensor.set_data_from_numpy(x_test[:8])
                result = client.infer(mnist.model, [tensor], headers=mnist.grpc_headers)
                grpc_probabilities = result.as_numpy(output_name)
                print("gRPC", mnist.grpc, "model ready:", client.is_model_ready(mnist.model, headers=mnist.grpc_headers))
                assert np.allclose(grpc_probabilities, direct, atol=1e-6)
                client.close()
            else:
                print("gRPC:", mnist.grpc_note)
        """),
        md("""
            ## 4. Watch it serve

            `%maas monitor mnist` is a live dashboard (throughput, latency p50/p95/p99, error rate, batch size, per
            version) refreshed every second. Here it watches a short load loop: at most 1 000 requests or 10 seconds.
            When it stops (`--seconds`, the Stop button, or the endpoint going away) it leaves a snapshot of the
            table and charts in the output, which is what a saved notebook shows where widgets cannot render.
        """),
        code("""
            %maas monitor mnist --seconds 12

            def load(requests_at_most=1000, seconds_at_most=10.0, rows=1):
                \"\"\"Send single-row requests for a bounded count and time; returns the versions that answered.\"\"\"
                served, started, rng = {}, time.monotonic(), np.random.default_rng(0)
                with requests.Session() as http:
                    http.headers.update(auth)
                    for _ in range(requests_at_most):
                        if time.monotonic() - started > seconds_at_most:
                            break
                        i = int(rng.integers(len(x_test) - rows))
                        one = {"inputs": [{"name": input_name, "shape": [rows, 784], "datatype": "FP32",
                                           "data": x_test[i:i + rows].ravel().tolist()}]}
                        answer = http.post(f"{rest}/models/mnist/infer", json=one, timeout=30)
                        answer.raise_for_status()
                        version = answer.json()["model_version"]
                        served[version] = served.get(version, 0) + 1
                return served

            print(load())
        """),
        md("The same figures as a table (what a notebook without widgets shows):"),
        code("%maas monitor mnist --static"),
        md("""
            Input drift: `--reference` kept a summary of the training inputs (quantile bins per pixel, and over a
            random projection, since 784 pixels are many), and the endpoint keeps a bounded sample of what it
            serves. Test images look like the training images:
        """),
        code("%maas drift mnist --top 5"),
        md("Inverted images (a camera upgrade gone wrong, say) do not:"),
        code("""
            %maas drift mnist --reset
            inverted = 1.0 - x_test[:300]
            _ = %maas predict mnist inverted
            shifted = %maas drift mnist --top 5 --no-plot
            assert shifted["drifted"].any()
        """),
        md("""
            ## 5. A second version, trained with SGD

            `--register mnist` makes the trained model the next version of `mnist`, with lineage to its run.
        """),
        code("""
            model_sgd = mlp(128)   # same architecture and signature (input "pixels"), fresh weights
            %maas train model_sgd --data x_train,y_train --val x_val,y_val --epochs 3 --optimizer sgd --lr 0.1 --batch-size 64 --register mnist
            versions = %maas versions mnist
            v2 = int(versions.index.max())
            print("new version:", v2)
            assert v2 > v1
        """),
        md("""
            ## 6. Canary, promote, roll back

            The new version takes 20% of the endpoint's traffic; `mnist@V` routes reach either version directly.
            A canary must keep its bounds (error rate, p99 latency relative to the primary), or it is rolled back
            automatically. A new session's first requests can be slow on a busy machine, so this demo allows a
            p99 up to 10 times the primary's (`%maas slo` shows and changes the bounds).
        """),
        code("""
            %maas slo mnist --max-p99-ratio 10
            %maas deploy mnist@{v2} --canary mnist --weight 20
            served = load(requests_at_most=400, seconds_at_most=20)
            print("requests answered per version:", served)
            assert set(served) == {str(v1), str(v2)}
        """),
        md("The canary looks fine: promote it, so it takes all the traffic."),
        code("""
            %maas promote mnist
            assert set(load(requests_at_most=50)) == {str(v2)}
        """),
        md("""
            Changed our mind: one command returns to the previous version. Its session was kept loaded, so the
            switch takes milliseconds, and no request fails while it happens.
        """),
        code("""
            %maas rollback mnist --reason "SGD version is less accurate"
            endpoints = %maas endpoints
            assert int(endpoints.loc["mnist", "version"]) == v1
            assert set(load(requests_at_most=50)) == {str(v1)}
        """),
        code("%maas history mnist"),
        md("""
            ## 7. Evaluate and compare the versions

            `%maas evaluate` runs a version's ONNX model over labelled data and stores the metrics on the version;
            `%maas compare` puts every version side by side.
        """),
        code("%maas evaluate mnist@{v1} --data x_test,y_test"),
        code("%maas evaluate mnist@{v2} --data x_test,y_test"),
        code("""
            comparison = %maas compare mnist
            assert comparison.loc[v1, "accuracy"] > 0.93 and comparison.loc[v2, "accuracy"] > 0.85
            comparison
        """),
        md("""
            Next: `02-optimizers.ipynb` (full-batch GD, SGD and Adam side by side), `03-background-jobs.ipynb`
            (training that outlives the kernel) and `04-bring-your-own-onnx.ipynb` (a model made without Keras).
        """),
    ]


def optimizers():
    return [
        md("""
            # Optimisers: full-batch gradient descent, SGD and Adam

            The same model (784 → 128 ReLU → 10 softmax), from the same initial weights, trained on the same
            5 000 MNIST images for 10 epochs with the three optimisers `%maas train` offers. An epoch is one pass
            over the data; what differs is how many steps that pass makes and how each step moves the weights.
        """),
        md(r"""
            Notation: weights $\theta$, learning rate $\eta$, loss $L$, and $g_t = \nabla_\theta L(\theta_{t-1})$
            the gradient at step $t$.

            **Full-batch gradient descent** (`--optimizer gd`) computes the gradient over *all* $N$ training rows and
            takes one step per epoch:
            $$\theta_t = \theta_{t-1} - \eta\,\frac{1}{N}\sum_{i=1}^{N}\nabla_\theta \ell_i(\theta_{t-1})$$
            Every step is exact but expensive, and 10 epochs are only 10 steps.

            **Stochastic (minibatch) gradient descent** (`--optimizer sgd`) uses the same rule on a minibatch $B$ of
            $b$ rows (64 here), so an epoch makes $N/b$ steps, each with a noisy but cheap gradient:
            $$\theta_t = \theta_{t-1} - \eta\,\frac{1}{b}\sum_{i\in B_t}\nabla_\theta \ell_i(\theta_{t-1})$$

            **Adam** (`--optimizer adam`) keeps exponential moving averages of the gradient (first moment) and of its
            element-wise square (second moment), corrects their bias towards zero in the first steps, and divides the
            first by the square root of the second:
            $$m_t = \beta_1 m_{t-1} + (1-\beta_1)\,g_t \qquad v_t = \beta_2 v_{t-1} + (1-\beta_2)\,g_t^2$$
            $$\hat m_t = \frac{m_t}{1-\beta_1^t} \qquad \hat v_t = \frac{v_t}{1-\beta_2^t} \qquad
              \theta_t = \theta_{t-1} - \eta\,\frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}$$
            with $\beta_1 = 0.9$, $\beta_2 = 0.999$, $\epsilon = 10^{-7}$ (Keras). Each weight gets its own step size:
            about $\eta$ where gradients are consistent, smaller where they are noisy.

            Sensible learning rates differ: full-batch GD takes few, exact steps and can afford a large $\eta$ (0.3; at 0.5 it already overshoots and the loss oscillates);
            minibatch SGD 0.1; Adam's normalised steps want a small one (0.002).
        """),
        code("""
            import os
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")   # TensorFlow: warnings and errors only
            %load_ext maas_jupyter
            import numpy as np
            import keras
            import matplotlib.pyplot as plt
            from maas_jupyter.datasets import mnist

            keras.utils.set_random_seed(0)
            (x_train, y_train), (x_val, y_val) = mnist()[:2]
            x_train, y_train, x_val, y_val = x_train[:5000], y_train[:5000], x_val[:2000], y_val[:2000]

            start = keras.Sequential([keras.Input((784,)), keras.layers.Dense(128, activation="relu"),
                                      keras.layers.Dense(10, activation="softmax")])
            initial_weights = start.get_weights()

            def fresh_model():
                \"\"\"The same architecture from the same initial weights, so only the optimiser differs.\"\"\"
                model = keras.models.clone_model(start)
                model.set_weights(initial_weights)
                return model

            EPOCHS = 10
        """),
        md("### Full-batch gradient descent: one step per epoch"),
        code("""
            model_gd = fresh_model()
            %maas train model_gd --data x_train,y_train --val x_val,y_val --epochs {EPOCHS} --optimizer gd --lr 0.3
        """),
        md("### Minibatch SGD: 79 steps per epoch (batch size 64)"),
        code("""
            model_sgd = fresh_model()
            %maas train model_sgd --data x_train,y_train --val x_val,y_val --epochs {EPOCHS} --optimizer sgd --lr 0.1 --batch-size 64
        """),
        md("### Adam"),
        code("""
            model_adam = fresh_model()
            %maas train model_adam --data x_train,y_train --val x_val,y_val --epochs {EPOCHS} --optimizer adam --lr 0.002 --batch-size 64
        """),
        md("""
            ## Curves overlaid

            `%maas train` trains with Keras' `fit`, so each model keeps its per-epoch history; the run records in
            `%maas runs` hold the same figures.
        """),
        code("""
            histories = {"GD (full batch, lr 0.3)": model_gd.history.history,
                         "SGD (batch 64, lr 0.1)": model_sgd.history.history,
                         "Adam (batch 64, lr 0.002)": model_adam.history.history}
            figure, (loss_axes, accuracy_axes) = plt.subplots(1, 2, figsize=(12, 4))
            for (label, history), color in zip(histories.items(), ["#2ca02c", "#1f77b4", "#d62728"]):
                epochs = np.arange(1, len(history["loss"]) + 1)
                loss_axes.plot(epochs, history["loss"], color=color, label=f"{label} train")
                loss_axes.plot(epochs, history["val_loss"], color=color, linestyle="--", label=f"{label} validation")
                accuracy_axes.plot(epochs, history["val_accuracy"], color=color, marker="o", markersize=3, label=label)
            loss_axes.set(title="loss per epoch", xlabel="epoch", ylabel="cross-entropy", yscale="log")
            accuracy_axes.set(title="validation accuracy per epoch", xlabel="epoch", ylim=(0, 1))
            loss_axes.legend(fontsize="small")
            accuracy_axes.legend(fontsize="small", loc="lower right")
            plt.tight_layout()
            plt.show()
        """),
        code("""
            final = {label: history["val_accuracy"][-1] for label, history in histories.items()}
            for label, value in final.items():
                print(f"{label:28s} validation accuracy after {EPOCHS} epochs: {value:.3f}")
            gd, sgd, adam = final.values()
            # Per epoch, the many small steps win over the few exact ones.
            assert adam > 0.9 and sgd > 0.85 and gd > 0.5
            assert min(adam, sgd) > gd
            %maas runs --limit 3
        """),
        md("""
            What to take away: per pass over the data, minibatch methods make hundreds of updates where full-batch
            GD makes one, so they get further for the same compute. Plain SGD's progress depends on the learning
            rate; Adam's per-weight normalisation makes it converge fast with little tuning, at the price of two
            extra moving averages per weight.
        """),
    ]


def background_jobs():
    return [
        md("""
            # Background jobs: training that outlives the kernel

            `%%maas job NAME` sends the cell to the server as a training job: the cell is a script that defines
            `model`, `x_train`, `y_train` (and optionally `x_val`, `y_val`); it runs in its own process, its output
            goes to a log, its metrics stream back while it runs, and when it succeeds the trained model is
            registered as the next version of `NAME`, with lineage to the run. The notebook stays usable meanwhile.
        """),
        code("""
            import os
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")   # TensorFlow: warnings and errors only
            %load_ext maas_jupyter
            import time
            import numpy as np
            from maas_jupyter.datasets import mnist

            x_test, y_test = mnist()[2]

            def wait_for(job_id, seconds_at_most=300):
                \"\"\"Poll the job list (bounded in time) until the job has ended; returns its row.\"\"\"
                deadline = time.monotonic() + seconds_at_most
                while True:
                    jobs = %maas jobs
                    row = jobs.loc[job_id]
                    if row["state"] in ("SUCCEEDED", "FAILED", "CANCELLED") or time.monotonic() > deadline:
                        return row
                    time.sleep(1)
        """),
        md("## A job"),
        code("""
            %%maas job mnist-job --epochs 3 --optimizer adam --lr 0.002 --batch-size 64
            import keras
            from maas_jupyter.datasets import mnist

            (x_train, y_train), (x_val, y_val), _ = mnist()
            x_train, y_train = x_train[:20000], y_train[:20000]
            model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(128, activation="relu"),
                                      keras.layers.Dense(10, activation="softmax")])
            print("training on", x_train.shape)
        """),
        code("""
            first_job = _.index[0]   # the job's id, from the table the cell returned
            %maas watch {first_job}
        """),
        md("""
            The curve above follows the job while it runs (and, opened later or from another kernel, replays its
            whole history first). Meanwhile the notebook is free: submit a second job, then change your mind. Jobs
            beyond `MAAS_MAX_CONCURRENT_JOBS` (default 1) wait in the queue; cancelling a queued job is immediate, a
            running one gets SIGTERM, then SIGKILL after a grace period.
        """),
        code("""
            %%maas job mnist-job --epochs 50 --optimizer sgd
            import keras
            from maas_jupyter.datasets import mnist

            (x_train, y_train), _, _ = mnist()
            model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(10, activation="softmax")])
        """),
        code("""
            second_job = _.index[0]
            time.sleep(2)
            %maas cancel {second_job}
            row = wait_for(second_job, seconds_at_most=60)
            print(f"job {second_job}: {row['state']}")
            assert row["state"] == "CANCELLED"
        """),
        md("Back to the first job: wait for it (bounded), then read its log."),
        code("""
            row = wait_for(first_job)
            print(f"job {first_job}: {row['state']}, registered version {row['registered_version']:.0f}")
            assert row["state"] == "SUCCEEDED", row["reason"]
            %maas logs {first_job} --tail 8
        """),
        code("%maas jobs"),
        md("The finished job registered a version with lineage to its run:"),
        code("""
            versions = %maas versions mnist-job
            job_version = int(row["registered_version"])
            assert versions.loc[job_version, "run_id"]
            versions
        """),
        code("%maas runs mnist-job --limit 2"),
        md("## Deploy what the job trained"),
        code("%maas deploy mnist-job@{job_version}"),
        code("""
            served = %maas predict mnist-job x_test[:1000]
            predicted = served.argmax(1)
            job_accuracy = float((predicted == y_test[:1000]).mean())
            print(f"served accuracy on 1 000 test images: {job_accuracy:.3f}")
            assert job_accuracy > 0.9
        """),
        code("%maas undeploy mnist-job"),
    ]


def bring_your_own_onnx():
    return [
        md("""
            # Bring your own ONNX model

            The registry and the endpoints take any ONNX model, not only Keras ones. Here: a softmax (multinomial
            logistic) regression fitted with plain numpy on scikit-learn's 8×8 digits, written out as an ONNX graph
            with `onnx.helper`, then registered, deployed and called, and finally sent a bad request to see what the
            error looks like.
        """),
        code("""
            %load_ext maas_jupyter
            import numpy as np
            from sklearn.datasets import load_digits
            from sklearn.model_selection import train_test_split

            digits = load_digits()
            x = (digits.data / 16.0).astype(np.float32)          # 1 797 images, 64 pixels in [0, 1]
            x_train, x_test, y_train, y_test = train_test_split(x, digits.target, test_size=0.25, random_state=0)
            print(x_train.shape, x_test.shape)
        """),
        md(r"""
            ## Fit a softmax regression with numpy

            $p = \mathrm{softmax}(xW + b)$, cross-entropy loss with a little L2 penalty, full-batch gradient descent:
            the gradient with respect to the logits is $p - \mathrm{onehot}(y)$.
        """),
        code("""
            def softmax(z):
                z = z - z.max(axis=1, keepdims=True)
                e = np.exp(z)
                return e / e.sum(axis=1, keepdims=True)

            rng = np.random.default_rng(0)
            W = rng.normal(0, 0.01, (64, 10)).astype(np.float32)
            b = np.zeros(10, np.float32)
            onehot = np.eye(10, dtype=np.float32)[y_train]
            for step in range(500):
                p = softmax(x_train @ W + b)
                grad = (p - onehot) / len(x_train)
                W -= 1.0 * (x_train.T @ grad + 1e-4 * W)
                b -= 1.0 * grad.sum(axis=0)
            numpy_accuracy = (softmax(x_test @ W + b).argmax(1) == y_test).mean()
            print(f"test accuracy: {numpy_accuracy:.3f}")
            assert numpy_accuracy > 0.9
        """),
        md("""
            ## Write it as ONNX

            Three nodes (MatMul, Add, Softmax), the weights as initializers, and a dynamic batch dimension so the
            endpoint can merge requests into one batch.
        """),
        code("""
            import onnx
            from onnx import TensorProto, helper, numpy_helper

            graph = helper.make_graph(
                [helper.make_node("MatMul", ["pixels", "W"], ["xw"]),
                 helper.make_node("Add", ["xw", "b"], ["logits"]),
                 helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1)],
                "digits_softmax_regression",
                [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["batch", 64])],
                [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 10])],
                initializer=[numpy_helper.from_array(W, "W"), numpy_helper.from_array(b, "b")],
            )
            onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                                           producer_name="numpy + onnx.helper")
            onnx_model.ir_version = 8
            onnx.checker.check_model(onnx_model)
            digits_onnx = onnx_model.SerializeToString()
            print(f"{len(digits_onnx)} bytes")
        """),
        md("## Register, deploy, call"),
        md(
            "ONNX bytes in a variable (or the path of an `.onnx` file) register as they are; the signature is read from the graph."
        ),
        code("""
            %maas register digits_onnx --name digits --description "softmax regression, numpy + onnx.helper"
            versions = %maas versions digits
            version = int(versions.index[-1])
            versions
        """),
        code("%maas deploy digits@{version}"),
        code("""
            served = %maas predict digits x_test
            import onnxruntime as ort

            session = ort.InferenceSession(digits_onnx, providers=["CPUExecutionProvider"])
            direct = session.run(None, {"pixels": x_test})[0]
            print("predicted:", served[:12].argmax(1), "\\nlabels:   ", y_test[:12])
            assert np.allclose(served, direct, atol=1e-6)
            assert np.allclose(served, softmax(x_test @ W + b), atol=1e-5)
            served_accuracy = (served.argmax(1) == y_test).mean()
            assert served_accuracy == numpy_accuracy
            print(f"served accuracy {served_accuracy:.3f}")
        """),
        md("The V2 REST route, with `requests`:"),
        code(
            CONNECT
            + "\n\n"
            + textwrap.dedent("""
            import requests

            body = {"inputs": [{"name": "pixels", "shape": [2, 64], "datatype": "FP32", "data": x_test[:2].tolist()}]}
            reply = requests.post(f"{rest}/models/digits/infer", json=body, headers=auth, timeout=30)
            print(reply.status_code, reply.json()["outputs"][0]["name"], reply.json()["outputs"][0]["shape"])
            assert reply.status_code == 200
        """)
        ),
        md("""
            ## A bad request

            The input is checked against the version's signature before the model runs. A wrong shape is a
            `400` with the V2 error body `{"error": "<reason>"}`, a one-line message in the notebook, and the
            endpoint goes on serving everyone else.
        """),
        code("""
            bad = {"inputs": [{"name": "pixels", "shape": [2, 63], "datatype": "FP32", "data": x_test[:2, :63].tolist()}]}
            reply = requests.post(f"{rest}/models/digits/infer", json=bad, headers=auth, timeout=30)
            print(reply.status_code, reply.json())
            assert reply.status_code == 400 and "error" in reply.json()
        """),
        code("""
            from IPython.core.error import UsageError

            narrow = x_test[:, :10]   # 10 pixels where the model takes 64
            try:
                %maas predict digits narrow
            except UsageError as error:
                print("%maas predict said:", error)
            else:
                raise AssertionError("a 10-column input should have been refused")
        """),
        code("""
            wrong_name = {"inputs": [{"name": "image", "shape": [1, 64], "datatype": "FP32", "data": x_test[0].tolist()}]}
            reply = requests.post(f"{rest}/models/digits/infer", json=wrong_name, headers=auth, timeout=30)
            print(reply.status_code, reply.json())
            assert reply.status_code == 400

            still_serving = %maas predict digits x_test[:3]
            assert np.allclose(still_serving, direct[:3], atol=1e-6)
            print("still serving:", still_serving.argmax(1))
        """),
        code("%maas endpoints"),
        code("%maas undeploy digits"),
    ]


BUILDERS = {
    "01": ("01-quickstart.ipynb", quickstart),
    "02": ("02-optimizers.ipynb", optimizers),
    "03": ("03-background-jobs.ipynb", background_jobs),
    "04": ("04-bring-your-own-onnx.ipynb", bring_your_own_onnx),
}


def build(key: str) -> Path:
    filename, cells = BUILDERS[key]
    notebook = new_notebook(
        cells=cells(),
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
            "language_info": {"name": "python"},
        },
    )
    nbformat.validate(notebook)
    path = NOTEBOOKS / filename
    path.parent.mkdir(exist_ok=True)
    nbformat.write(notebook, path)
    return path


def main(argv: list[str]) -> int:
    for key in argv or list(BUILDERS):
        print(build(key[:2]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
