"""The one compiled part: synctools.protocol._native, the bulk decryption's hot loop.

Everything else is in pyproject.toml. The extension is optional: where it cannot be built
(no C compiler, no OpenSSL headers), the install goes on and synctools uses the pure-Python
path, which gives the same results (tests/protocol/test_native.py compares the two).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "synctools.protocol._native",
            sources=["synctools/protocol/_native.c"],
            libraries=["crypto"],
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
            optional=True,
        )
    ]
)
