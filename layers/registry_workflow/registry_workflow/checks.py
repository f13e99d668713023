"""Table-driven validation in plain Python, with pydantic-core as the judge of anything unusual.

The policy (policy.py) and the events (events.py) declare their fields once, as specs: a type, its
constraints and a default. Each spec does two things:

* `check(value)`: plain Python, for values that are plainly valid: the exact JSON/TOML type, within
  the constraints, nothing to coerce or strip. It returns the value pydantic-core would have
  returned, or raises `Undecided` (never a refusal of its own);
* `schema()`: the pydantic-core schema of the same declaration (what `pydantic.BaseModel` generated),
  built only when a value is undecided.

So a good policy table or event, every handler's case, is validated without importing pydantic-core
(its `core_schema` module alone is ~30 ms of a cold start; docs/performance.md); anything else
(coercion, whitespace to strip, a value to refuse) goes to pydantic-core, imported then, which accepts
or refuses it with pydantic's own values and error reports. The two can only differ if a plain check
accepts what pydantic-core would change or refuse: tests/unit/test_coldstart_*.py compare both sides
against the former pydantic models on thousands of generated inputs, strict and lax.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from pydantic_core import CoreSchema


class Validated:
    """A validated record (a policy table, a part of an event): attributes set by this module or by
    pydantic-core, read-only afterwards. pydantic-core keeps its bookkeeping in the `__pydantic_*`
    slots, which copy and pickle restore through setattr: those alone may be set."""

    __slots__ = ("__dict__", "__pydantic_extra__", "__pydantic_fields_set__", "__pydantic_private__")

    def __setattr__(self, name: str, value: Any) -> None:
        if not name.startswith("__pydantic_"):
            raise AttributeError(f"{type(self).__name__} is read-only")
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return other.__dict__ == self.__dict__

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.__dict__.items())})"


class Undecided(Exception):
    """The plain check cannot vouch for a value: pydantic-core decides."""


class Refusal(Exception):
    """A rule between fields refuses a value: pydantic-core reports it as a custom error (`type`, `msg`, `ctx`)."""

    def __init__(self, kind: str, template: str, ctx: dict[str, Any] | None = None) -> None:
        super().__init__(kind)
        self.kind, self.template, self.ctx = kind, template, ctx


class Invalid(ValueError):
    """A refused value, with pydantic-core's error entries (`errors()`: `type`, `loc`, `msg`, `ctx`, `input`)."""

    def __init__(self, error: Any) -> None:  # a pydantic_core.ValidationError
        super().__init__(str(error))
        self.title: str = error.title
        self._errors: list[dict[str, Any]] = error.errors()

    def errors(self) -> list[dict[str, Any]]:
        return [dict(entry) for entry in self._errors]

    def error_count(self) -> int:
        return len(self._errors)


def _core() -> Any:
    from pydantic_core import core_schema

    return core_schema


def pydantic_rule(rule: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`rule` for pydantic-core: its `Refusal` raised as the custom error it stands for."""

    def run(value: Any) -> Any:
        try:
            return rule(value)
        except Refusal as refusal:
            from pydantic_core import PydanticCustomError

            raise PydanticCustomError(refusal.kind, refusal.template, refusal.ctx) from None

    return run


# --- value specs ----------------------------------------------------------------------------------


class Spec:
    def check(self, value: Any) -> Any:
        raise NotImplementedError

    def schema(self) -> CoreSchema:
        raise NotImplementedError


class Str(Spec):
    """A string; with `strip` (str_strip_whitespace), one with whitespace at an end is undecided."""

    def __init__(
        self, *, pattern: str | None = None, min_length: int | None = None, max_length: int | None = None
    ) -> None:
        self.pattern, self.min_length, self.max_length = pattern, min_length, max_length
        # ASCII classes are narrower than pydantic-core's (Rust, Unicode) ones; no newline, so `$` is the end
        self._regex = re.compile(pattern, re.ASCII) if pattern else None
        self.strip = False

    def check(self, value: Any) -> Any:
        if type(value) is not str or not _utf8(value):
            raise Undecided
        if (
            (self.strip and value != value.strip())  # Python's whitespace ⊇ Rust's: strip nothing either way
            or (self.min_length is not None and len(value) < self.min_length)
            or (self.max_length is not None and len(value) > self.max_length)
            or (self._regex is not None and ("\n" in value or self._regex.search(value) is None))
        ):
            raise Undecided
        return value

    def schema(self) -> CoreSchema:
        return _core().str_schema(pattern=self.pattern, min_length=self.min_length, max_length=self.max_length)


def _utf8(value: str) -> bool:
    """Whether pydantic-core can read the string as UTF-8 (a lone surrogate, e.g. from JSON's "\\ud800", it cannot)."""
    if value.isascii():
        return True
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


class Int(Spec):
    def __init__(self, *, ge: int | None = None, le: int | None = None) -> None:
        self.ge, self.le = ge, le

    def check(self, value: Any) -> Any:
        if (
            type(value) is not int
            or (self.ge is not None and value < self.ge)
            or (self.le is not None and value > self.le)
        ):
            raise Undecided
        return value

    def schema(self) -> CoreSchema:
        return _core().int_schema(ge=self.ge, le=self.le)


class Float(Spec):
    """A finite number: a float, or an int (exactly representable) as a float."""

    def __init__(self, *, ge: float | None = None) -> None:
        self.ge = ge

    def check(self, value: Any) -> Any:
        if type(value) is int and -(2**53) <= value <= 2**53:
            value = float(value)
        if type(value) is not float or not math.isfinite(value) or (self.ge is not None and not value >= self.ge):
            raise Undecided
        return value

    def schema(self) -> CoreSchema:
        return _core().float_schema(ge=self.ge)


class Bool(Spec):
    def check(self, value: Any) -> Any:
        if type(value) is not bool:
            raise Undecided
        return value

    def schema(self) -> CoreSchema:
        return _core().bool_schema()


class OneOf(Spec):
    """`Literal[...]` of strings."""

    def __init__(self, *values: str) -> None:
        self.values = values

    def check(self, value: Any) -> Any:
        if type(value) is not str or value not in self.values:
            raise Undecided
        return value

    def schema(self) -> CoreSchema:
        return _core().literal_schema(list(self.values))


class AnyValue(Spec):
    def check(self, value: Any) -> Any:
        return value

    def schema(self) -> CoreSchema:
        return _core().any_schema()


class Nullable(Spec):
    def __init__(self, inner: Spec) -> None:
        self.inner = inner

    def check(self, value: Any) -> Any:
        return None if value is None else self.inner.check(value)

    def schema(self) -> CoreSchema:
        return _core().nullable_schema(self.inner.schema())


class ListOf(Spec):
    def __init__(self, item: Spec, *, max_length: int | None = None) -> None:
        self.item, self.max_length = item, max_length

    def check(self, value: Any) -> Any:
        if type(value) is not list or (self.max_length is not None and len(value) > self.max_length):
            raise Undecided
        return [self.item.check(item) for item in value]

    def schema(self) -> CoreSchema:
        return _core().list_schema(self.item.schema(), max_length=self.max_length)


class DictOf(Spec):
    def __init__(self, key: Spec, value: Spec) -> None:
        self.key, self.value = key, value

    def check(self, value: Any) -> Any:
        if type(value) is not dict:
            raise Undecided
        return {self.key.check(k): self.value.check(v) for k, v in value.items()}

    def schema(self) -> CoreSchema:
        return _core().dict_schema(self.key.schema(), self.value.schema())


class After(Spec):
    """`inner`, then `rule` on its value (a field validator in "after" mode)."""

    def __init__(self, inner: Spec, rule: Callable[[Any], Any]) -> None:
        self.inner, self.rule = inner, rule

    def check(self, value: Any) -> Any:
        value = self.inner.check(value)
        try:
            return self.rule(value)
        except (Refusal, ValueError):
            raise Undecided from None

    def schema(self) -> CoreSchema:
        return _core().no_info_after_validator_function(pydantic_rule(self.rule), self.inner.schema())


class Before(Spec):
    """`change` on the raw value, then `inner` (a field validator in "before" mode)."""

    def __init__(self, change: Callable[[Any], Any], inner: Spec) -> None:
        self.change, self.inner = change, inner

    def check(self, value: Any) -> Any:
        try:
            value = self.change(value)
        except (Refusal, ValueError):
            raise Undecided from None
        return self.inner.check(value)

    def schema(self) -> CoreSchema:
        return _core().no_info_before_validator_function(pydantic_rule(self.change), self.inner.schema())


class Field:
    """A key of a table: its spec, its default (a value, or a `factory` to call; neither: required), its alias."""

    _REQUIRED = object()

    def __init__(
        self, spec: Spec, default: Any = _REQUIRED, *, factory: Callable[[], Any] | None = None, alias: str = ""
    ) -> None:
        self.spec, self.default, self.factory, self.alias = spec, default, factory, alias

    @property
    def required(self) -> bool:
        return self.factory is None and self.default is Field._REQUIRED


class Model(Spec):
    """A table validated into an instance of `cls` (frozen, as pydantic-core's model schema makes it).

    `before` runs on the raw table, `after` on the instance (model validators); `extra` is "forbid"
    (unknown keys are errors) or "allow" (kept in `__pydantic_extra__`); `config` is the core config.
    """

    def __init__(
        self,
        cls: type,
        fields: dict[str, Field],
        *,
        extra: str,
        config: dict[str, Any],
        strip: bool = False,
        before: Callable[[Any], Any] | None = None,
        after: Callable[[Any], Any] | None = None,
    ) -> None:
        self.cls, self.fields, self.extra, self.config = cls, fields, extra, config
        self.before, self.after = before, after
        self._schema: CoreSchema | None = None
        self._validator: Any = None
        self._keys = {
            name: (field.alias, name) if field.alias and field.alias != name else (name,)
            for name, field in fields.items()
        }
        if strip:
            for field in fields.values():
                _strip_strings(field.spec)

    def check(self, value: Any) -> Any:
        data = value
        if self.before is not None:
            try:
                data = self.before(data)
            except (Refusal, ValueError):
                raise Undecided from None
        if type(data) is not dict:
            raise Undecided  # instances and the like: pydantic-core's revalidation rules decide
        if not all(type(key) is str and _utf8(key) for key in data):
            raise Undecided  # pydantic-core reads every key of a table as a string, extra ones too
        values: dict[str, Any] = {}
        fields_set: set[str] = set()
        used: set[str] = set()
        for name, field in self.fields.items():
            present = [key for key in self._keys[name] if key in data]
            if len(present) > 1:
                raise Undecided
            if present:
                values[name] = field.spec.check(data[present[0]])
                fields_set.add(name)
                used.add(present[0])
            elif field.factory is not None:
                values[name] = field.factory()
            elif field.required:
                raise Undecided
            else:
                values[name] = field.default
        extra = {key: item for key, item in data.items() if key not in used}
        if extra and self.extra != "allow":
            raise Undecided
        instance: Any = object.__new__(self.cls)
        fill(instance, values, fields_set, extra if self.extra == "allow" else None)
        if self.after is not None:
            try:
                instance = self.after(instance)
            except (Refusal, ValueError):
                raise Undecided from None
        return instance

    def schema(self) -> CoreSchema:
        if self._schema is None:
            cs = _core()
            model_fields = {}
            for name, field in self.fields.items():
                inner = field.spec.schema()
                if field.factory is not None:
                    inner = cs.with_default_schema(inner, default_factory=field.factory)
                elif not field.required:
                    inner = cs.with_default_schema(inner, default=field.default)
                # populate_by_name: the alias (the event's spelling) first, then the attribute's name
                paths: list[list[str | int]] | None = [[field.alias], [name]] if field.alias else None
                model_fields[name] = cs.model_field(inner, validation_alias=paths)
            allow = {"extra_behavior": "allow"} if self.extra == "allow" else {}
            schema = cs.model_fields_schema(model_fields, model_name=self.cls.__name__, **allow)
            if self.before is not None:
                schema = cs.no_info_before_validator_function(pydantic_rule(self.before), schema)
            schema = cs.model_schema(
                self.cls, schema, custom_init=False, root_model=False, frozen=True, config=self.config, **allow
            )
            if self.after is not None:
                schema = cs.no_info_after_validator_function(pydantic_rule(self.after), schema)
            self._schema = schema
        return self._schema

    def validate(self, data: Any, *, strict: bool | None = None, instance: Any = None) -> Any:
        """`data` as an instance: plain Python if it is plainly valid, else pydantic-core's verdict (`Invalid`)."""
        try:
            validated = self.check(data)
        except Undecided:
            return self.judge(data, strict=strict, instance=instance)
        if instance is None:
            return validated
        fill(instance, validated.__dict__, validated.__pydantic_fields_set__, validated.__pydantic_extra__)
        return instance

    def judge(self, data: Any, *, strict: bool | None = None, instance: Any = None) -> Any:
        """pydantic-core's verdict on `data` (imported now): the instance, or `Invalid` with its errors."""
        from pydantic_core import SchemaValidator, ValidationError

        if self._validator is None:
            self._validator = SchemaValidator(self.schema())
        try:
            if instance is not None:
                return self._validator.validate_python(data, strict=strict, self_instance=instance)
            return self._validator.validate_python(data, strict=strict)
        except ValidationError as exc:
            raise Invalid(exc) from None


def fill(instance: Any, values: dict[str, Any], fields_set: set[str], extra: dict[str, Any] | None) -> None:
    """Set an instance's attributes as pydantic-core does (its bookkeeping slots too)."""
    setattr_ = object.__setattr__
    setattr_(instance, "__dict__", values)
    setattr_(instance, "__pydantic_extra__", extra)
    setattr_(instance, "__pydantic_fields_set__", fields_set)
    setattr_(instance, "__pydantic_private__", None)


def _strip_strings(spec: Spec) -> None:
    """str_strip_whitespace: a string with whitespace at either end is undecided (pydantic-core strips it)."""
    if isinstance(spec, Str):
        spec.strip = True
    for inner in ("inner", "item", "key", "value"):
        nested = getattr(spec, inner, None)
        if isinstance(nested, Spec) and not isinstance(nested, Model):
            _strip_strings(nested)
