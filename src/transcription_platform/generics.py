"""Django classes that django-stubs makes generic, subscriptable at run time too.

Strict mypy wants the type argument of ``ModelAdmin[Model]``, ``ModelForm[Model]``,
``TextField[set, get]`` or ``LazyObject[Wrapped]``; Django's own classes cannot be
subscripted. Rather than patch Django's classes for every site that installs us (what
``django_stubs_ext.monkeypatch()`` does from a project's settings), the package's own
subclasses name these stand-ins, which hand back Django's class itself: the class
hierarchy at run time is exactly Django's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils.module_loading import import_string

__all__ = ["LazyObject", "ModelAdmin", "ModelForm", "StackedInline", "TabularInline", "TextField"]


class _Subscriptable:
    """``Stand_in[Anything]`` is the Django class it stands for.

    The class is imported when subscripted, so a module using the model stand-ins
    never imports ``django.contrib.admin`` (a site may leave the admin out).
    """

    def __init__(self, dotted_path: str) -> None:
        self.dotted_path = dotted_path

    def __getitem__(self, arguments: object) -> type:
        base: type = import_string(self.dotted_path)
        return base


if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin, StackedInline, TabularInline
    from django.db.models import TextField
    from django.forms import ModelForm
    from django.utils.functional import LazyObject
else:
    ModelAdmin = _Subscriptable("django.contrib.admin.ModelAdmin")
    StackedInline = _Subscriptable("django.contrib.admin.StackedInline")
    TabularInline = _Subscriptable("django.contrib.admin.TabularInline")
    ModelForm = _Subscriptable("django.forms.ModelForm")
    TextField = _Subscriptable("django.db.models.TextField")
    LazyObject = _Subscriptable("django.utils.functional.LazyObject")
