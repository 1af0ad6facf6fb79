"""The model registry: named models, immutable numbered versions, aliases, tags, lineage."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..errors import Conflict, InvalidInput, NotFound, PayloadTooLarge
from ..names import check_alias, check_name, parse_number
from .artifacts import TMP_PREFIX, ArtifactStore
from .database import Database
from .signature import parse_onnx, signature_of
from .tables import Alias, HistoryEvent, Model, ModelVersion, iso_utc, utcnow, whoami

MAX_PAGE = 1000


def _copy_row(row: ModelVersion) -> ModelVersion:
    """An unsaved copy of a version row's set columns."""
    columns = {c.key: getattr(row, c.key) for c in ModelVersion.__table__.columns if getattr(row, c.key) is not None}
    return ModelVersion(**columns)


def _check_tags(tags: object) -> dict:
    if tags is None:
        return {}
    if not isinstance(tags, dict) or not all(isinstance(k, str) and k for k in tags):
        raise InvalidInput("tags must be an object of non-empty string keys")
    if not all(isinstance(v, (str, int, float, bool)) or v is None for v in tags.values()):
        raise InvalidInput("tag values must be strings, numbers, booleans or null")
    return {k: ("" if v is None else str(v)) for k, v in tags.items()}


def _check_mapping(value: object, what: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(f"{what} must be an object")
    return dict(value)


def _page(offset: int, limit: int) -> tuple[int, int]:
    if not isinstance(offset, int) or offset < 0:
        raise InvalidInput("offset must be a non-negative integer")
    if not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be an integer from 1 to {MAX_PAGE}")
    return offset, limit


SWEEP_MIN_AGE_S = 600.0


def parse_version_ref(ref: object) -> int | str | None:
    """'3' or 3 -> 3, 'production' -> 'production', None/'' /'latest' -> None (the newest)."""
    if ref is None or ref == "" or ref == "latest":
        return None
    if isinstance(ref, bool):
        raise InvalidInput("a version is a positive integer or an alias")
    number = parse_number(ref)
    if number is not None:
        if number < 1:
            raise InvalidInput("versions are numbered from 1")
        return number
    if isinstance(ref, int):
        raise InvalidInput(f"no version is numbered {ref}")
    return check_alias(ref)


class Registry:
    """Registry operations, each one unit of work in the database."""

    def __init__(self, db: Database, store: ArtifactStore, max_upload_bytes: int):
        self.db = db
        self.store = store
        self.max_upload_bytes = max_upload_bytes
        # Set by the Platform: returns the endpoints that serve a model, to refuse deleting it.
        self.endpoints_using: Callable[[str], list[str]] = lambda name: []

    # ---- rendering -------------------------------------------------------------------------

    @staticmethod
    def _model_dict(session: Session, model: Model) -> dict:
        latest = session.scalar(select(func.max(ModelVersion.version)).where(ModelVersion.model_id == model.id))
        count = session.scalar(select(func.count()).where(ModelVersion.model_id == model.id))
        return {
            "name": model.name,
            "description": model.description,
            "tags": dict(model.tags),
            "latest_version": latest,
            "version_count": count,
            "aliases": {a.alias: a.version for a in model.aliases},
            "created_at": iso_utc(model.created_at),
            "updated_at": iso_utc(model.updated_at),
        }

    @staticmethod
    def _version_dict(model: Model, version: ModelVersion) -> dict:
        return {
            "name": model.name,
            "version": version.version,
            "aliases": sorted(a.alias for a in model.aliases if a.version == version.version),
            "description": version.description,
            "tags": dict(version.tags),
            "source": version.source,
            "sha256": version.sha256,
            "size_bytes": version.size_bytes,
            "keras_sha256": version.keras_sha256,
            "signature": version.signature,
            "metrics": dict(version.metrics),
            "params": dict(version.params),
            "run_id": version.run_id,
            "parent_version": version.parent_version,
            "created_by": version.created_by,
            "created_at": iso_utc(version.created_at),
        }

    @staticmethod
    def _find_model(session: Session, name: str, lock: bool = False) -> Model:
        check_name(name, "model name")
        query = select(Model).where(Model.name == name)
        if lock:
            query = query.with_for_update()  # serialises changes of one model on PostgreSQL
        model = session.scalar(query)
        if model is None:
            raise NotFound(f"model {name!r} does not exist")
        return model

    @staticmethod
    def _find_version(session: Session, model: Model, ref: int | str | None) -> ModelVersion:
        if isinstance(ref, str):
            alias = next((a for a in model.aliases if a.alias == ref), None)
            if alias is None:
                raise NotFound(f"model {model.name!r} has no alias {ref!r}")
            ref = alias.version
        query = select(ModelVersion).where(ModelVersion.model_id == model.id)
        if ref is None:
            query = query.order_by(ModelVersion.version.desc()).limit(1)
        else:
            query = query.where(ModelVersion.version == ref)
        version = session.scalar(query)
        if version is None:
            what = "any version" if ref is None else f"version {ref}"
            raise NotFound(f"model {model.name!r} has no {what}")
        return version

    # ---- models ----------------------------------------------------------------------------

    def create_model(self, name: str, description: str = "", tags: dict | None = None) -> dict:
        """Create an empty named model; Conflict if the name is taken."""
        check_name(name, "model name")
        if not isinstance(description, str):
            raise InvalidInput("description must be a string")
        tags = _check_tags(tags)
        try:
            with self.db.write() as session:
                model = Model(name=name, description=description, tags=tags)
                session.add(model)
                session.flush()
                return self._model_dict(session, model)
        except IntegrityError:
            raise Conflict(f"model {name!r} already exists") from None

    def get_model(self, name: str) -> dict:
        with self.db.read() as session:
            return self._model_dict(session, self._find_model(session, name))

    def list_models(self, offset: int = 0, limit: int = 100) -> dict:
        """A page of models by name: {"items": [...], "total": N, "offset", "limit"}."""
        offset, limit = _page(offset, limit)
        with self.db.read() as session:
            total = session.scalar(select(func.count()).select_from(Model))
            models = session.scalars(select(Model).order_by(Model.name).offset(offset).limit(limit)).all()
            items = [self._model_dict(session, m) for m in models]
        return {"items": items, "total": total, "offset": offset, "limit": limit}

    def update_model(self, name: str, description: str | None = None, tags: dict | None = None) -> dict:
        """Change a model's description and/or replace its tags."""
        if description is not None and not isinstance(description, str):
            raise InvalidInput("description must be a string")
        tags = _check_tags(tags) if tags is not None else None
        with self.db.write() as session:
            model = self._find_model(session, name)
            if description is not None:
                model.description = description
            if tags is not None:
                model.tags = tags
            model.updated_at = utcnow()
            session.flush()
            return self._model_dict(session, model)

    def delete_model(self, name: str) -> None:
        """Delete a model with its versions and aliases; Conflict while an endpoint serves it."""
        using = self.endpoints_using(name)
        if using:
            raise Conflict(f"model {name!r} is deployed as {', '.join(sorted(using))}; undeploy first")
        with self.db.write() as session:
            model = self._find_model(session, name, lock=True)  # waits for registrations in flight
            digests = {v.sha256 for v in model.versions} | {v.keras_sha256 for v in model.versions if v.keras_sha256}
            session.delete(model)
            self._record(session, "model", name, "delete_model", {}, "", "")
        still_used = self._referenced_digests()
        for digest in digests - still_used:
            self.store.discard(digest)

    def sweep_artifacts(self, older_than_s: float = SWEEP_MIN_AGE_S) -> dict:
        """Reclaim what registrations cut short left behind (temporary files, blobs no version refers to),
        and say so in the history (subject "artifacts"). Only files untouched for `older_than_s`: a
        registration writes its blob and commits its row within moments, and a file being written is
        touched as it grows, so nothing that old belongs to a registration in flight."""
        removed = self.store.sweep_sizes(self._referenced_digests(), older_than_s)
        summary = {
            "files": len(removed),
            "bytes": sum(size for _name, size in removed),
            "temporary": sum(1 for name, _size in removed if name.startswith(TMP_PREFIX)),
        }
        if removed:
            self.record(
                "registry",
                "artifacts",
                "sweep",
                summary,
                whoami(),
                "reclaimed what interrupted registrations left behind",
            )
        return summary

    def _referenced_digests(self) -> set[str]:
        with self.db.read() as session:
            rows = session.execute(select(ModelVersion.sha256, ModelVersion.keras_sha256)).all()
        return {d for row in rows for d in row if d}

    # ---- versions --------------------------------------------------------------------------

    def register_onnx(
        self,
        name: str,
        onnx_bytes: bytes,
        *,
        keras_bytes: bytes | None = None,
        description: str = "",
        tags: dict | None = None,
        metrics: dict | None = None,
        params: dict | None = None,
        run_id: str | None = None,
        parent_version: int | None = None,
        alias: str | None = None,
        actor: str | None = None,
        source: str = "onnx",
        create_model: bool = True,
    ) -> dict:
        """Store ONNX bytes as the model's next version; nothing is stored if any check fails."""
        check_name(name, "model name")
        if len(onnx_bytes) > self.max_upload_bytes:
            raise PayloadTooLarge(f"the model is {len(onnx_bytes)} bytes; the limit is {self.max_upload_bytes}")
        if not isinstance(description, str):
            raise InvalidInput("description must be a string")
        tags = _check_tags(tags)
        metrics = _check_mapping(metrics, "metrics")
        params = _check_mapping(params, "params")
        if alias is not None:
            check_alias(alias)
        if parent_version is not None and (not isinstance(parent_version, int) or parent_version < 1):
            raise InvalidInput("parent_version must be a positive integer")
        signature = signature_of(parse_onnx(onnx_bytes))
        actor = actor or whoami()

        # Artifacts first (idempotent, content-addressed), the row last: a crash in between leaves
        # an unreferenced blob that sweep() collects, never a version without its bytes.
        digest = self.store.put(onnx_bytes)
        keras_digest = self.store.put(keras_bytes) if keras_bytes else None
        try:
            row = ModelVersion(
                description=description,
                tags=tags,
                source=source,
                sha256=digest,
                size_bytes=len(onnx_bytes),
                keras_sha256=keras_digest,
                signature=signature,
                metrics=metrics,
                params=params,
                run_id=run_id,
                parent_version=parent_version,
                created_by=actor,
            )
            version = self._insert_version(name, row, alias, create_model)
        except BaseException:
            used = self._referenced_digests()
            for d in {digest, keras_digest} - used:
                if d is not None:
                    self.store.discard(d)
            raise
        # A failed registration of the same bytes in another process may have discarded the file
        # between our put() and our commit (it saw no committed version using it): write it again.
        for data, d in ((onnx_bytes, digest), (keras_bytes, keras_digest)):
            if data is not None and d is not None and not self.store.path_of(d).exists():
                self.store.put(data)
        return version

    def _insert_version(self, name: str, row: ModelVersion, alias: str | None, create_model: bool) -> dict:
        """Add `row` (every column but its model and number) as the model's next version, numbered in the
        same transaction as it is written."""
        for _attempt in range(20):
            try:
                with self.db.write() as session:
                    model = session.scalar(select(Model).where(Model.name == name).with_for_update())
                    if model is None:
                        if not create_model:
                            raise NotFound(f"model {name!r} does not exist")
                        model = Model(name=name, description="", tags={})
                        session.add(model)
                        session.flush()
                    if row.parent_version is not None:
                        self._find_version(session, model, row.parent_version)
                    latest = (
                        session.scalar(select(func.max(ModelVersion.version)).where(ModelVersion.model_id == model.id))
                        or 0
                    )
                    version = _copy_row(row)  # a fresh object per attempt: a failed flush spoils the last one
                    version.model_id, version.version = model.id, latest + 1
                    session.add(version)
                    model.updated_at = utcnow()
                    session.flush()
                    if alias is not None:
                        self._move_alias(session, model, alias, version.version, row.created_by, "set at registration")
                    session.flush()
                    return self._version_dict(model, version)
            except IntegrityError:
                continue  # another writer took this number (or created the model) first: count again
        raise Conflict(f"could not number a new version of {name!r}: too many concurrent registrations")

    def list_versions(self, name: str, offset: int = 0, limit: int = 100) -> dict:
        offset, limit = _page(offset, limit)
        with self.db.read() as session:
            model = self._find_model(session, name)
            total = session.scalar(select(func.count()).where(ModelVersion.model_id == model.id))
            rows = session.scalars(
                select(ModelVersion)
                .where(ModelVersion.model_id == model.id)
                .order_by(ModelVersion.version)
                .offset(offset)
                .limit(limit)
            ).all()
            items = [self._version_dict(model, v) for v in rows]
        return {"items": items, "total": total, "offset": offset, "limit": limit}

    def get_version(self, name: str, ref: int | str | None = None) -> dict:
        """A version by number, alias, or the newest when `ref` is None."""
        ref = parse_version_ref(ref)
        with self.db.read() as session:
            model = self._find_model(session, name)
            return self._version_dict(model, self._find_version(session, model, ref))

    def update_version(self, name: str, ref, description: str | None = None, tags: dict | None = None) -> dict:
        """Change a version's description or tags; its artifact, signature and lineage never change."""
        if description is not None and not isinstance(description, str):
            raise InvalidInput("description must be a string")
        tags = _check_tags(tags) if tags is not None else None
        ref = parse_version_ref(ref)
        with self.db.write() as session:
            model = self._find_model(session, name)
            version = self._find_version(session, model, ref)
            if description is not None:
                version.description = description
            if tags is not None:
                version.tags = tags
            model.updated_at = utcnow()  # the model's stamp: registry.changes sees version edits by it
            session.flush()
            return self._version_dict(model, version)

    def set_version_metrics(self, name: str, ref, metrics: dict) -> dict:
        """Merge evaluation metrics into a version (they describe it; they do not change it)."""
        metrics = _check_mapping(metrics, "metrics")
        ref = parse_version_ref(ref)
        with self.db.write() as session:
            # Locked: a merge reads then writes, and two servers merging at once must not lose keys.
            model = self._find_model(session, name, lock=True)
            version = self._find_version(session, model, ref)
            version.metrics = {**version.metrics, **metrics}
            model.updated_at = utcnow()  # the model's stamp: registry.changes sees version edits by it
            session.flush()
            return self._version_dict(model, version)

    def load_onnx(self, name: str, ref=None) -> tuple[dict, bytes]:
        """A version's metadata and its ONNX bytes, checked against the stored sha256."""
        version = self.get_version(name, ref)
        return version, self.store.get(version["sha256"])

    def load_keras_bytes(self, name: str, ref=None) -> bytes:
        version = self.get_version(name, ref)
        if not version["keras_sha256"]:
            raise NotFound(f"{name}@{version['version']} was registered from ONNX and has no Keras model")
        return self.store.get(version["keras_sha256"])

    # ---- aliases ---------------------------------------------------------------------------

    def _move_alias(self, session: Session, model: Model, alias: str, number: int, actor: str, reason: str) -> None:
        row = next((a for a in model.aliases if a.alias == alias), None)
        before = row.version if row else None
        if row is None:
            model.aliases.append(Alias(alias=alias, version=number))
        else:
            row.version = number
            row.updated_at = utcnow()
        self._record(
            session, "model", model.name, "alias", {"alias": alias, "from": before, "to": number}, actor, reason
        )

    def set_alias(self, name: str, alias: str, ref, actor: str | None = None, reason: str = "") -> dict:
        """Point `alias` at a version (moving it if it pointed elsewhere); returns that version."""
        check_alias(alias)
        ref = parse_version_ref(ref)
        if isinstance(ref, str) and ref == alias:
            raise InvalidInput(f"alias {alias!r} cannot point at itself")
        with self.db.write() as session:
            # Locked so that concurrent moves of one model's aliases (from several servers) queue up:
            # each reads where the alias points after the previous move, and the history chains.
            model = self._find_model(session, name, lock=True)
            version = self._find_version(session, model, ref)
            self._move_alias(session, model, alias, version.version, actor or whoami(), reason)
            session.flush()
            return self._version_dict(model, version)

    def get_alias(self, name: str, alias: str) -> dict:
        check_alias(alias)
        return self.get_version(name, alias)

    def delete_alias(self, name: str, alias: str, actor: str | None = None, reason: str = "") -> None:
        check_alias(alias)
        with self.db.write() as session:
            model = self._find_model(session, name, lock=True)
            row = next((a for a in model.aliases if a.alias == alias), None)
            if row is None:
                raise NotFound(f"model {name!r} has no alias {alias!r}")
            model.aliases.remove(row)
            self._record(
                session,
                "model",
                name,
                "alias",
                {"alias": alias, "from": row.version, "to": None},
                actor or whoami(),
                reason,
            )

    # ---- history ---------------------------------------------------------------------------

    @staticmethod
    def _record(session: Session, kind: str, subject: str, action: str, detail: dict, actor: str, reason: str):
        session.add(
            HistoryEvent(
                subject_kind=kind, subject=subject, action=action, detail=detail, actor=actor or "", reason=reason or ""
            )
        )

    def record(self, kind: str, subject: str, action: str, detail: dict, actor: str = "", reason: str = "") -> None:
        """Append one event to the history (used by deployments for what an endpoint serves)."""
        with self.db.write() as session:
            self._record(session, kind, subject, action, detail, actor, reason)

    def history(self, subject: str, limit: int = 1000) -> list[dict]:
        """Every recorded change of a model's aliases or an endpoint's versions, oldest first."""
        check_name(subject, "name")
        _page(0, limit)
        with self.db.read() as session:
            rows = session.scalars(
                select(HistoryEvent)
                .where(HistoryEvent.subject == subject)
                .order_by(HistoryEvent.id.desc())
                .limit(limit)
            ).all()
        return [
            {
                "at": iso_utc(r.at),
                "kind": r.subject_kind,
                "subject": r.subject,
                "action": r.action,
                **r.detail,
                "actor": r.actor,
                "reason": r.reason,
            }
            for r in reversed(rows)
        ]
