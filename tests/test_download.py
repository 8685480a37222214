"""Downloading, against a local HTTP server on 127.0.0.1 (the only network these tests use)."""
import gzip
import hashlib
import os
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from conftest import DATASETS
from tinygrad_ko.data import (MNIST, MNIST_FILES, cache_dir, content_sha256, download_file, load_mnist,
                              search_dirs)
from tinygrad_ko.data import download as download_module
from tinygrad_ko.errors import DataError

CONTENT = bytes(range(256)) * 400                      # 100 KiB: several read chunks
SHA = hashlib.sha256(CONTENT).hexdigest()
GZ = gzip.compress(CONTENT)


class Handler(BaseHTTPRequestHandler):
    """Serves self.server.routes: path -> (body, mode); mode "cut" sends half of the announced body
    then closes the connection, like a dropped transfer. Unknown paths get 404."""

    def do_GET(self):
        self.server.requests.append(self.path)
        if self.path not in self.server.routes:
            self.send_error(404)
            return
        body, mode = self.server.routes[self.path]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[:len(body) // 2] if mode == "cut" else body)
        self.close_connection = True

    def log_message(self, *args):   # keep the test output clean
        pass


@pytest.fixture
def server(monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)   # talk to 127.0.0.1 directly
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.routes, httpd.requests = {}, []
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    monkeypatch.delenv("TINYGRAD_KO_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path


def closed_port_url():
    """A URL on 127.0.0.1 where nothing listens: connecting fails at once (an offline mirror)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist/"


def files_in(d):
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


# -- download_file ---------------------------------------------------------------------------------
def test_first_mirror_404_second_serves(server, tmp_path):
    server.routes["/b/f.gz"] = (GZ, "")
    dest = tmp_path / "cache" / "f.gz"
    got = download_file([server.url + "/a/f.gz", server.url + "/b/f.gz"], dest, SHA,
                        progress=False, timeout=5)
    assert got == dest and dest.read_bytes() == GZ
    assert files_in(dest.parent) == ["f.gz"]
    assert server.requests == ["/a/f.gz", "/b/f.gz"]


def test_corrupted_mirror_leaves_nothing(server, tmp_path):
    server.routes["/f.gz"] = (gzip.compress(CONTENT[:-1] + b"X"), "")
    dest = tmp_path / "cache" / "f.gz"
    with pytest.raises(DataError, match=rf"(?s)could not download f.gz.*/f.gz: wrong SHA-256 .*{SHA}"):
        download_file([server.url + "/f.gz"], dest, SHA, progress=False, timeout=5)
    assert files_in(dest.parent) == []


def test_corrupted_first_mirror_falls_back_to_the_next(server, tmp_path):
    server.routes["/bad/f.gz"] = (b"garbage", "")
    server.routes["/good/f.gz"] = (GZ, "")
    dest = tmp_path / "f.gz"
    download_file([server.url + "/bad/f.gz", server.url + "/good/f.gz"], dest, SHA,
                  progress=False, timeout=5)
    assert dest.read_bytes() == GZ and files_in(tmp_path) == ["f.gz"]


def test_interrupted_transfer_leaves_no_partial_file(server, tmp_path):
    server.routes["/f.gz"] = (GZ, "cut")
    dest = tmp_path / "cache" / "f.gz"
    # no checksum given: the announced length alone must catch the dropped connection
    with pytest.raises(DataError, match=rf"transfer interrupted: got {len(GZ) // 2} of {len(GZ)}"):
        download_file([server.url + "/f.gz"], dest, None, progress=False, timeout=5)
    assert files_in(dest.parent) == []


def test_keyboard_interrupt_leaves_no_partial_file(server, tmp_path, monkeypatch):
    server.routes["/f.gz"] = (GZ, "")

    def interrupt(self, n):
        raise KeyboardInterrupt

    monkeypatch.setattr(download_module._Progress, "update", interrupt)
    with pytest.raises(KeyboardInterrupt):
        download_file([server.url + "/f.gz"], tmp_path / "f.gz", SHA, progress=False, timeout=5)
    assert files_in(tmp_path) == []


def test_text_progress_without_tqdm(server, tmp_path, monkeypatch, capsys):
    server.routes["/f"] = (CONTENT, "")
    monkeypatch.setitem(sys.modules, "tqdm", None)      # `from tqdm import tqdm` raises ImportError
    download_file([server.url + "/f"], tmp_path / "f", SHA, progress=True, timeout=5)
    err = capsys.readouterr().err
    assert "downloading f: 100%" in err and err.endswith("\n")
    assert (tmp_path / "f").read_bytes() == CONTENT


def test_tqdm_progress_when_installed(server, tmp_path, capsys):
    pytest.importorskip("tqdm", reason="tqdm not installed (optional: pip install tqdm)")
    server.routes["/f"] = (CONTENT, "")
    download_file([server.url + "/f"], tmp_path / "f", SHA, progress=True, timeout=5)
    assert "downloading f" in capsys.readouterr().err
    assert (tmp_path / "f").read_bytes() == CONTENT


def test_content_sha256_is_of_the_decompressed_bytes(tmp_path):
    (tmp_path / "a.gz").write_bytes(GZ)
    (tmp_path / "a").write_bytes(CONTENT)
    assert content_sha256(tmp_path / "a.gz") == content_sha256(tmp_path / "a") == SHA


def test_cache_dir_and_search_dirs(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("TINYGRAD_KO_DATA", str(tmp_path / "env"))
    assert cache_dir("mnist") == tmp_path / "xdg" / "tinygrad_ko" / "mnist"
    assert search_dirs("mnist", tmp_path / "mine") == [
        tmp_path / "mine", tmp_path / "env" / "mnist", tmp_path / "env", cache_dir("mnist")]
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.delenv("TINYGRAD_KO_DATA")
    assert search_dirs("x") == [Path("~").expanduser() / ".cache" / "tinygrad_ko" / "x"]


# -- load_mnist's downloads ------------------------------------------------------------------------
def test_offline_error_says_where_to_put_the_files(isolated):
    mirrors = [closed_port_url(), closed_port_url()]
    with pytest.raises(DataError) as e:
        load_mnist(data_dir=isolated / "mine", mirrors=mirrors, progress=False)
    msg = str(e.value)
    cache = isolated / "cache" / "tinygrad_ko" / "mnist"
    assert "train-images-idx3-ubyte.gz not found in" in msg and "downloading failed (offline?)" in msg
    assert str(isolated / "mine") in msg and str(cache) in msg
    assert "put it in one of those directories, or pass data_dir=" in msg
    assert all(m + "train-images-idx3-ubyte.gz" in msg for m in mirrors)
    assert files_in(cache) == []


def test_download_false_makes_no_request(isolated, server):
    with pytest.raises(DataError, match="download=False"):
        load_mnist(mirrors=[server.url + "/mnist/"], download=False)
    assert server.requests == []


def test_load_mnist_downloads_into_the_cache(isolated, server):
    src = os.path.join(DATASETS, "mnist")
    if not all(os.path.isfile(os.path.join(src, n + ".gz")) for n in MNIST_FILES):
        pytest.skip(f"MNIST files not found at {src}: set TINYGRAD_KO_DATA")
    for name in MNIST_FILES:
        server.routes[f"/mnist/{name}.gz"] = (Path(src, name + ".gz").read_bytes(), "")
    mirrors = [server.url + "/gone/", server.url + "/mnist"]     # first 404s; no trailing slash ok
    (x, t), (xt, _) = load_mnist(mirrors=mirrors, progress=False)
    cache = isolated / "cache" / "tinygrad_ko" / "mnist"
    assert files_in(cache) == sorted(n + ".gz" for n in MNIST_FILES)
    assert x.shape == (60000, 784) and t[:5].tolist() == [5, 0, 4, 1, 9]
    # a second load finds the cached files: no new request
    n_requests = len(server.requests)
    test = MNIST(train=False, mirrors=mirrors, download=False)
    assert len(server.requests) == n_requests and np.array_equal(test.data, xt)
