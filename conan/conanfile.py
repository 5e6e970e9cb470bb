"""Conan 2 recipe for Krait: libkrait (the C ABI, krait.h) and the header-only C++ layer (krait.hpp).

    conan create conan --build=missing           # from the repository root; tools/test_conan.sh does it offline
    conan create conan -o "krait/*:python=True"  # also the pybind11 module (krait._krait)

Consumers: `requires = "krait/<version>"`, then find_package(krait) + target krait::krait (CMakeDeps), or
pkg-config krait (PkgConfigDeps).

Dependencies are system packages, not Conan packages: the library's CMake project finds Eigen 3.4,
nlohmann-json, ICU (uc, i18n), Oniguruma (pkg-config), Protocol Buffers (lite runtime + protoc) and, with
python=True, pybind11 and the Python headers where the system installed them (on Debian: libeigen3-dev
nlohmann-json3-dev libicu-dev libonig-dev libprotobuf-dev protobuf-compiler pybind11-dev python3-dev, as
tools/setup.sh installs). So the recipe declares no `requires` and works offline, with no remote. libkrait.so
links ICU, Oniguruma and protobuf-lite dynamically: a machine that runs it needs their runtime packages.

The library is built shared only: libkrait.so exports the C ABI and nothing else (its static parts are hidden
behind it), so shared=False is refused. Its package id ignores compiler.cppstd and compiler.libcxx: the ABI is C,
and krait.hpp is compiled by the consumer (C++17 or later).

Options:
  python  build the Python extension module too (-DKRAIT_PYTHON=ON); packaged with the Python sources as
          <package>/python/krait, which the run environment puts on PYTHONPATH.
  cuda    forwarded as -DKRAIT_CUDA=ON. The CUDA backend is not part of the source tree yet: with cuda=True
          the CMake configure stops with a message saying so. Default False.
"""

import os
import re
import shutil

from conan import ConanFile
from conan.errors import ConanInvalidConfiguration
from conan.tools.cmake import CMake, CMakeToolchain, cmake_layout
from conan.tools.files import copy, load, rmdir

# What the library build needs from the repository (the recipe lives in conan/, one level down).
_SOURCES = ("CMakeLists.txt", "cmake/*", "abi/include/*", "abi/src/*", "sdk/*", "kernels/*",
            "bindings/python/CMakeLists.txt", "bindings/python/src/*", "bindings/python/krait/*")


class KraitConan(ConanFile):
    name = "krait"
    description = ("Embeddable C/C++ inference SDK: Mamba and Llama language models, ViT / MambaVision / ONNX image "
                   "classifiers, vision-language assistants and runtime LoRA adapters, behind a stable C ABI")
    topics = ("inference", "llm", "mamba", "llama", "vision", "lora", "onnx")
    package_type = "library"
    settings = "os", "arch", "compiler", "build_type"
    options = {"shared": [True, False], "python": [True, False], "cuda": [True, False]}
    default_options = {"shared": True, "python": False, "cuda": False}

    def set_version(self):
        # The version is the CMake project's: project(krait VERSION x.y.z ...).
        text = load(self, os.path.join(self.recipe_folder, "..", "CMakeLists.txt"))
        self.version = re.search(r"project\(krait VERSION ([0-9.]+)", text).group(1)

    def export_sources(self):
        root = os.path.join(self.recipe_folder, "..")
        for pattern in _SOURCES:
            copy(self, pattern, root, self.export_sources_folder, excludes=("*/__pycache__/*", "*.pyc"))

    def validate(self):
        if not self.options.shared:
            raise ConanInvalidConfiguration("krait is built as a shared library only (libkrait.so exports the C ABI "
                                            "and hides its static parts); use shared=True")
        if self.settings.os != "Linux":
            raise ConanInvalidConfiguration(f"this recipe builds krait for Linux only (GNU ld version script), "
                                            f"not {self.settings.os}")

    def package_id(self):
        # A C ABI: the C++ standard and standard library the consumer uses do not matter.
        self.info.settings.rm_safe("compiler.cppstd")
        self.info.settings.rm_safe("compiler.libcxx")

    def layout(self):
        cmake_layout(self)

    def generate(self):
        tc = CMakeToolchain(self)
        # Only the library (and the Python module if asked for): no tests, CLI, samples or benchmarks.
        tc.cache_variables["KRAIT_TESTS"] = False
        tc.cache_variables["KRAIT_CLI"] = False
        tc.cache_variables["KRAIT_SAMPLES"] = False
        tc.cache_variables["KRAIT_BENCH"] = False
        tc.cache_variables["KRAIT_PYTHON"] = bool(self.options.python)
        tc.cache_variables["KRAIT_CUDA"] = bool(self.options.cuda)
        tc.generate()

    def build(self):
        cmake = CMake(self)
        cmake.configure()
        cmake.build()

    def package(self):
        tree = self.conf.get("user.krait:build_tree")
        if tree:
            # `conan export-pkg` of a tree already built with CMake (tools/test_conan.sh --from-build): its
            # library and headers, as `cmake --install` puts them, without compiling anything here.
            self.run(f'cmake --install "{tree}" --prefix "{self.package_folder}" --component Unspecified')
            rmdir(self, os.path.join(self.package_folder, "bin"))  # the tree's CLI, if it was built
            return
        cmake = CMake(self)
        cmake.install()  # headers, libkrait, lib/cmake/krait, lib/pkgconfig/krait.pc (+ krait/ with python=True)
        if self.options.python:
            # The CMake install put the module and a copy of libkrait in <package>/krait; add the Python
            # sources and move the package to <package>/python/krait.
            module_dir = os.path.join(self.package_folder, "krait")
            for pattern in ("*.py", "*.pyi", "py.typed"):
                copy(self, pattern, os.path.join(self.source_folder, "bindings", "python", "krait"), module_dir)
            os.makedirs(os.path.join(self.package_folder, "python"), exist_ok=True)
            shutil.move(module_dir, os.path.join(self.package_folder, "python", "krait"))

    def package_info(self):
        self.cpp_info.set_property("cmake_file_name", "krait")
        self.cpp_info.set_property("cmake_target_name", "krait::krait")
        self.cpp_info.set_property("pkg_config_name", "krait")
        self.cpp_info.libs = ["krait"]
        if self.options.python:
            self.runenv_info.prepend_path("PYTHONPATH", os.path.join(self.package_folder, "python"))
