"""The key file and CRM_ENCRYPTION_KEYS: what is read, what is refused and why, and the new-file command."""

from __future__ import annotations

import base64
import stat

import pytest

from crm.privacy.keys import KeyRing, KeyRingError, append_key, main, new_key_line, next_key_id, parse_keys, write_new_key_file


def encoded(byte: int, length: int = 32) -> str:
    return base64.urlsafe_b64encode(bytes([byte]) * length).decode()


def test_keys_are_read_from_lines_or_semicolons_with_comments_and_the_last_one_encrypts():
    text = f"# keys\n\n  index {encoded(1)}  ;k1 {encoded(2)}\nold-key_2 {encoded(3)}\n#k9 {encoded(9)}\n"

    ring = parse_keys(text)

    assert ring.index_key == bytes([1]) * 32
    assert ring.keys == {"k1": bytes([2]) * 32, "old-key_2": bytes([3]) * 32}
    assert ring.current_id == "old-key_2" and ring.current_key == bytes([3]) * 32


@pytest.mark.parametrize(("text", "says"), [
    (f"index {encoded(1)}\nk1 {encoded(2)} extra", "Key line 2 must read '<id> <base64 key>'."),
    (f"index {encoded(1)}\nk1", "Key line 2 must read '<id> <base64 key>'."),
    (f"index {encoded(1)}\nk!1 {encoded(2)}", "Key line 2 must read '<id> <base64 key>'."),
    (f"index {encoded(1)}\n{'k' * 17} {encoded(2)}", "Key line 2 must read '<id> <base64 key>'."),
    (f"index {encoded(1)}\nk1 {encoded(2)[:-2]}", "Key 'k1' is not valid base64."),
    (f"index {encoded(1)}\nk1 {encoded(2, 31)}", "Key 'k1' must be 32 bytes long."),
    (f"index {encoded(1, 33)}\nk1 {encoded(2)}", "Key 'index' must be 32 bytes long."),
    (f"index {encoded(1)}\nk1 {encoded(2)}\nk1 {encoded(3)}", "Key id 'k1' appears twice."),
    (f"k1 {encoded(2)}", "The keys need one 'index' key and at least one encryption key."),
    (f"index {encoded(1)}", "The keys need one 'index' key and at least one encryption key."),
    ("", "The keys need one 'index' key and at least one encryption key."),
])
def test_malformed_keys_are_refused_saying_which_line_or_key(text, says):
    with pytest.raises(KeyRingError) as refused:
        parse_keys(text)
    assert str(refused.value) == says


def test_an_id_of_sixteen_letters_digits_dashes_or_underscores_is_a_key_id():
    ring = parse_keys(f"index {encoded(1)}\n{'a-_Z9' * 3}x {encoded(2)}")
    assert list(ring.keys) == ["a-_Z9a-_Z9a-_Z9x"]


def test_the_next_key_id_follows_the_highest_numbered_one():
    key = bytes(32)
    assert next_key_id(KeyRing(keys={"k1": key, "k3": key, "k12": key, "k2": key}, current_id="k2", index_key=key)) == "k13"
    assert next_key_id(KeyRing(keys={"old": key, "k7a": key}, current_id="old", index_key=key)) == "k1"


def test_a_new_key_line_holds_a_fresh_random_key_of_32_bytes():
    first, second = new_key_line("k5").split(), new_key_line("k5").split()
    assert first[0] == "k5" and len(base64.urlsafe_b64decode(first[1])) == 32
    assert first[1] != second[1]


def test_a_new_key_file_is_readable_by_its_owner_alone_and_never_overwritten(tmp_path):
    path = tmp_path / "new" / "folder" / "keys"

    write_new_key_file(path)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    ring = parse_keys(path.read_text(encoding="utf-8"))
    assert list(ring.keys) == ["k1"] and ring.index_key != ring.current_key
    written = path.read_text(encoding="utf-8")
    with pytest.raises(FileExistsError):
        write_new_key_file(path)
    assert path.read_text(encoding="utf-8") == written


def test_an_added_key_becomes_the_current_one_and_the_old_ones_stay(tmp_path):
    path = tmp_path / "keys"
    write_new_key_file(path)
    ring = parse_keys(path.read_text(encoding="utf-8"))

    assert append_key(path, ring) == "k2"

    after = parse_keys(path.read_text(encoding="utf-8"))
    assert after.current_id == "k2" and after.keys["k1"] == ring.keys["k1"] and after.index_key == ring.index_key
    assert append_key(path, after) == "k3" and parse_keys(path.read_text(encoding="utf-8")).current_id == "k3"


def test_the_new_file_command_makes_a_key_file_and_explains_its_usage_otherwise(tmp_path, capsys):
    path = tmp_path / "keys"

    assert main(["new-file", str(path)]) == 0
    assert f"Created the key file {path} (mode 0600)" in capsys.readouterr().out
    assert parse_keys(path.read_text(encoding="utf-8")).current_id == "k1"

    for wrong in ([], ["new-file"], ["other", str(tmp_path / "x")], ["new-file", str(tmp_path / "y"), "z"]):
        assert main(wrong) == 2
        assert capsys.readouterr().err == "usage: python -m crm.privacy.keys new-file PATH\n"
    assert sorted(tmp_path.iterdir()) == [path]
