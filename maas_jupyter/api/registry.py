"""Management REST for the registry: models, versions, aliases, history."""

from __future__ import annotations

import asyncio

from ..errors import InvalidInput, PayloadTooLarge
from ..json_input import json_object
from ..registry.registry import parse_version_ref
from ..security.request_policy import BINARY, media_type
from .base import ApiHandler, only_fields
from .uploads import MULTIPART, UploadHandler

NAME = r"(?P<name>[^/]+)"


class InfoHandler(ApiHandler):
    def get(self):
        """What this platform is, where its state lives, and how to reach serving."""
        extra = self.settings.get("maas_info")  # the face adds what it knows: serving addresses, state
        self.write_json({**self.platform.info(), **(extra() if extra else {})})


class ModelsHandler(ApiHandler):
    def get(self):
        """A page of models (?offset=&limit=)."""
        self.write_json(
            self.platform.registry.list_models(self.int_argument("offset", 0), self.int_argument("limit", 100))
        )

    def post(self):
        """Create a model: {"name", "description"?, "tags"?}."""
        body = self.read_json()
        only_fields(body, {"name", "description", "tags"})
        model = self.platform.registry.create_model(body.get("name"), body.get("description", ""), body.get("tags"))
        self.set_header("Location", self.request.path.rstrip("/") + "/" + model["name"])
        self.write_json(model, 201)


class ModelHandler(ApiHandler):
    def get(self, name):
        """One model."""
        self.write_json(self.platform.registry.get_model(name))

    def patch(self, name):
        """Change description and/or tags: {"description"?, "tags"?}."""
        body = self.read_json()
        only_fields(body, {"description", "tags"})
        self.write_json(self.platform.registry.update_model(name, body.get("description"), body.get("tags")))

    def delete(self, name):
        """Delete a model and its versions; 409 while an endpoint serves it."""
        self.platform.registry.delete_model(name)
        self.set_status(204)
        self.finish()


class VersionsHandler(UploadHandler):
    body_types = (BINARY, MULTIPART)

    def get(self, name):
        """A page of a model's versions, oldest first."""
        self.write_json(
            self.platform.registry.list_versions(name, self.int_argument("offset", 0), self.int_argument("limit", 100))
        )

    async def post(self, name):
        """Register the next version from an uploaded ONNX file.

        Either the raw file as the body (Content-Type application/octet-stream, options as query
        arguments: description, alias), or multipart/form-data with a file field "file" (ONNX),
        an optional file field "keras" (.keras beside it) and an optional field "metadata" holding
        a JSON object: description, alias, tags, metrics, params, run_id, parent_version.
        """
        limit = self.upload_limit()
        body = self.body()
        if media_type(self.request.headers.get("Content-Type")) == MULTIPART:
            fields, files = self.form(body)
            if "file" not in files:
                raise InvalidInput("the multipart upload has no file field named 'file'")
            onnx_bytes = files["file"][0]["body"]
            keras_bytes = files["keras"][0]["body"] if "keras" in files else None
            metadata = json_object(fields.get("metadata", [b"{}"])[0], "the metadata field")
        else:
            onnx_bytes, keras_bytes = body, None
            metadata = {
                k: self.get_query_argument(k)
                for k in ("description", "alias")
                if self.get_query_argument(k, None) is not None
            }
        for part in (onnx_bytes, keras_bytes or b""):
            if len(part) > limit:
                raise PayloadTooLarge(f"the upload is {len(part)} bytes; the limit is {limit} bytes")
        only_fields(
            metadata, {"description", "alias", "tags", "metrics", "params", "run_id", "parent_version", "source"}
        )
        source = metadata.pop("source", "onnx" if keras_bytes is None else "keras")
        if source not in ("onnx", "keras"):
            raise InvalidInput("source must be 'onnx' or 'keras'")
        # Parsing and checking a large ONNX file takes a while: keep the server's loop free.
        version = await asyncio.to_thread(
            self.platform.registry.register_onnx,
            name,
            onnx_bytes,
            keras_bytes=keras_bytes,
            actor=self.actor,
            source=source,
            **metadata,
        )
        self.set_header("Location", f"{self.request.path.rstrip('/')}/{version['version']}")
        self.write_json(version, 201)


class VersionHandler(ApiHandler):
    def get(self, name, version):
        """One version, by number, alias or 'latest'."""
        self.write_json(self.platform.registry.get_version(name, version))

    def patch(self, name, version):
        """Change a version's description and/or tags (the artifact and lineage never change)."""
        body = self.read_json()
        only_fields(body, {"description", "tags"})
        self.write_json(self.platform.registry.update_version(name, version, body.get("description"), body.get("tags")))


class ArtifactHandler(ApiHandler):
    def get(self, name, version):
        """The version's ONNX file (?format=keras: the Keras file it was converted from), checked against
        its sha256 on the way out."""
        kind = self.get_argument("format", "onnx")
        if kind not in ("onnx", "keras"):
            raise InvalidInput("format must be onnx or keras")
        if kind == "keras":
            meta = self.platform.registry.get_version(name, version)
            data, digest = self.platform.registry.load_keras_bytes(name, meta["version"]), meta["keras_sha256"]
        else:
            meta, data = self.platform.registry.load_onnx(name, version)
            digest = meta["sha256"]
        self.set_header("Content-Type", "application/octet-stream")
        self.set_header("Content-Disposition", f'attachment; filename="{meta["name"]}-{meta["version"]}.{kind}"')
        self.set_header("ETag", f'"{digest}"')
        self.finish(data)


class AliasHandler(ApiHandler):
    def get(self, name, alias):
        """The version an alias points at."""
        self.write_json(self.platform.registry.get_alias(name, alias))

    def put(self, name, alias):
        """Point the alias at a version: {"version": 3, "reason"?}."""
        body = self.read_json()
        only_fields(body, {"version", "reason"})
        if "version" not in body:
            raise InvalidInput("the body needs a 'version'")
        ref = parse_version_ref(body["version"])
        if ref is None:
            raise InvalidInput("the body's 'version' must name a version")
        self.write_json(
            self.platform.registry.set_alias(name, alias, ref, actor=self.actor, reason=str(body.get("reason", "")))
        )

    def delete(self, name, alias):
        """Remove the alias."""
        self.platform.registry.delete_alias(name, alias, actor=self.actor)
        self.set_status(204)
        self.finish()


class HistoryHandler(ApiHandler):
    def get(self, name):
        """Every change of a model's aliases or of what an endpoint served, oldest first."""
        self.write_json({"items": self.platform.registry.history(name, self.int_argument("limit", 1000))})


ROUTES = [
    (r"info", InfoHandler),
    (r"models", ModelsHandler),
    (rf"models/{NAME}", ModelHandler),
    (rf"models/{NAME}/versions", VersionsHandler),
    (rf"models/{NAME}/versions/(?P<version>[^/]+)", VersionHandler),
    (rf"models/{NAME}/versions/(?P<version>[^/]+)/artifact", ArtifactHandler),
    (rf"models/{NAME}/aliases/(?P<alias>[^/]+)", AliasHandler),
    (rf"history/{NAME}", HistoryHandler),
]
