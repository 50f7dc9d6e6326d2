"""The public surface is curated: ``__all__`` is sorted-unique and every name resolves."""

import infotrafic


def test_all_is_sorted_and_unique() -> None:
    names = [n for n in infotrafic.__all__ if n != "__version__"]
    assert len(names) == len(set(names))
    assert names == sorted(names, key=lambda n: (not n.isupper(), n))


def test_every_exported_name_resolves() -> None:
    for name in infotrafic.__all__:
        assert getattr(infotrafic, name) is not None, name


def test_public_objects_live_in_infotrafic() -> None:
    for name in infotrafic.__all__:
        obj = getattr(infotrafic, name)
        module = getattr(obj, "__module__", None)
        if module is not None:
            assert module.startswith("infotrafic"), (name, module)
