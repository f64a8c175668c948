"""Downloads from a local HTTP server: checksums, corrupt archives, caching."""

from __future__ import annotations

import hashlib
import http.server
import io
import threading
import zipfile
from functools import partial

import numpy as np
import pytest

from recneg import RecnegError
from recneg.data import load_dataset
from recneg.data import datasets
from recneg.data.datasets import Source

U_DATA = "1\t10\t5\t100\n1\t20\t3\t101\n2\t10\t4\t102\n3\t30\t1\t103\n"
U_ITEM = "".join(
    f"{i}|Movie {i} (1990)|01-Jan-1990||http://example.org/{i}|" + "|".join(
        "1" if g == i // 10 else "0" for g in range(19)) + "\n"
    for i in (10, 20, 30)
)


def _zip_bytes(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, text in files.items():
            bundle.writestr(name, text.encode("latin-1"))
    return buffer.getvalue()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _Server:
    """A static file server on 127.0.0.1 that counts the requests it answers."""

    def __init__(self, root):
        self.root = root
        self.requests = 0
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the http.server API
                server.requests += 1
                super().do_GET()

            def log_message(self, *args):  # keep test output clean
                pass

        self.httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), partial(Handler, directory=str(root)))
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def publish(self, name: str, data: bytes) -> str:
        (self.root / name).write_bytes(data)
        return self.url(name)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def server(tmp_path, monkeypatch):
    root = tmp_path / "served"
    root.mkdir()
    monkeypatch.delenv("RECNEG_DATA_DIR", raising=False)
    monkeypatch.setenv("RECNEG_CACHE_DIR", str(tmp_path / "cache"))
    srv = _Server(root)
    yield srv
    srv.close()


def _cache_files(tmp_path) -> list[str]:
    cache = tmp_path / "cache"
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


def test_good_checksum_downloads_unpacks_and_caches(server, tmp_path, monkeypatch):
    archive = _zip_bytes({"ml-100k/u.data": U_DATA, "ml-100k/u.item": U_ITEM,
                          "ml-100k/README": "tiny"})
    url = server.publish("ml-100k.zip", archive)
    monkeypatch.setitem(datasets.SOURCES, "ml-100k",
                        Source(url, _sha256(archive), "ml-100k.zip"))
    log = load_dataset("ml-100k", progress=False)
    assert (len(log), log.n_users, log.n_items) == (4, 3, 3)
    assert log.item_titles == ["", "Movie 10 (1990)", "Movie 20 (1990)", "Movie 30 (1990)"]
    np.testing.assert_array_equal(log.item_attributes[1:].argmax(axis=1), [1, 2, 3])
    assert (tmp_path / "cache" / "ml-100k" / "u.data").read_text() == U_DATA
    assert _cache_files(tmp_path) == ["ml-100k", "ml-100k.zip"]
    assert server.requests == 1
    # The unpacked copy is found again without touching the network.
    again = load_dataset("ml-100k", progress=False, download=False)
    np.testing.assert_array_equal(again.items, log.items)
    assert server.requests == 1


def test_bad_checksum_raises_and_removes_the_file(server, tmp_path, monkeypatch):
    archive = _zip_bytes({"ml-100k/u.data": U_DATA, "ml-100k/u.item": U_ITEM})
    url = server.publish("ml-100k.zip", archive)
    wrong = "0" * 64
    monkeypatch.setitem(datasets.SOURCES, "ml-100k", Source(url, wrong, "ml-100k.zip"))
    with pytest.raises(RecnegError) as error:
        load_dataset("ml-100k", progress=False)
    assert str(error.value) == (
        f"checksum mismatch for ml-100k.zip: expected {wrong}, got {_sha256(archive)}; the "
        "file was removed, try again or place the dataset in $RECNEG_DATA_DIR/ml-100k")
    assert _cache_files(tmp_path) == []


def test_corrupt_archive_raises_and_is_removed(server, tmp_path, monkeypatch):
    junk = b"this is not a zip archive" * 40
    url = server.publish("ml-100k.zip", junk)
    monkeypatch.setitem(datasets.SOURCES, "ml-100k",
                        Source(url, "sha256:" + _sha256(junk), "ml-100k.zip"))
    with pytest.raises(RecnegError) as error:
        load_dataset("ml-100k", progress=False)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("ml-100k.zip is not a valid zip archive")
    assert "the file was removed" in message
    assert _cache_files(tmp_path) == []


def test_archive_without_the_data_files(server, tmp_path, monkeypatch):
    archive = _zip_bytes({"ml-100k/u.data": U_DATA})
    url = server.publish("ml-100k.zip", archive)
    monkeypatch.setitem(datasets.SOURCES, "ml-100k",
                        Source(url, _sha256(archive), "ml-100k.zip"))
    with pytest.raises(RecnegError, match="ml-100k.zip lacks u.item; the file was removed"):
        load_dataset("ml-100k", progress=False)
    assert _cache_files(tmp_path) == []


def test_stale_cached_archive_is_fetched_again(server, tmp_path, monkeypatch):
    archive = _zip_bytes({"ml-100k/u.data": U_DATA, "ml-100k/u.item": U_ITEM})
    url = server.publish("ml-100k.zip", archive)
    monkeypatch.setitem(datasets.SOURCES, "ml-100k",
                        Source(url, _sha256(archive), "ml-100k.zip"))
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "ml-100k.zip").write_bytes(b"an interrupted download")
    assert len(load_dataset("ml-100k", progress=False)) == 4
    assert server.requests == 1


def test_plain_file_download(server, tmp_path, monkeypatch):
    text = b"1 5 6 7\n2 6 7\n"
    url = server.publish("Beauty.txt", text)
    monkeypatch.setitem(datasets.SOURCES, "amazon-beauty",
                        Source(url, _sha256(text), "Beauty.txt", archive=False))
    log = load_dataset("amazon-beauty", progress=False)
    assert (len(log), log.n_users, log.n_items) == (5, 2, 3)
    assert (tmp_path / "cache" / "amazon-beauty" / "Beauty.txt").read_bytes() == text


def test_unpinned_download_warns(server, monkeypatch):
    text = b"1 5 6 7\n"
    url = server.publish("Beauty.txt", text)
    monkeypatch.setitem(datasets.SOURCES, "amazon-beauty",
                        Source(url, None, "Beauty.txt", archive=False))
    with pytest.warns(UserWarning, match=f"no checksum is pinned.*{_sha256(text)}"):
        load_dataset("amazon-beauty", progress=False)


def test_http_error_is_one_line(server, tmp_path, monkeypatch):
    monkeypatch.setitem(datasets.SOURCES, "ml-100k",
                        Source(server.url("missing.zip"), "0" * 64, "ml-100k.zip"))
    with pytest.raises(RecnegError) as error:
        load_dataset("ml-100k", progress=False)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("could not download ml-100k.zip from http://127.0.0.1:")
    assert "404" in message
    assert _cache_files(tmp_path) == []


def test_pinned_checksums_are_sha256():
    for name, source in datasets.SOURCES.items():
        assert source.known_hash is not None, name
        assert len(source.known_hash) == 64 and int(source.known_hash, 16) >= 0, name
        assert source.url.startswith("https://"), name


def test_shared_beauty_copy_matches_the_pinned_checksum(data_dir):
    data = (data_dir / "amazon-beauty" / "Beauty.txt").read_bytes()
    assert _sha256(data) == datasets.SOURCES["amazon-beauty"].known_hash
