"""Conan test package for krait: a CMake project that uses find_package(krait) and krait::krait, built
against the package just created, then run on the demo Mamba model of the repository (one generation)."""

import os

from conan import ConanFile
from conan.tools.build import can_run
from conan.tools.cmake import CMake, cmake_layout


class KraitTestConan(ConanFile):
    settings = "os", "arch", "compiler", "build_type"
    generators = "CMakeDeps", "CMakeToolchain"

    def requirements(self):
        self.requires(self.tested_reference_str)

    def layout(self):
        cmake_layout(self)

    def build(self):
        cmake = CMake(self)
        cmake.configure()
        cmake.build()

    def test(self):
        if not can_run(self):
            return
        # The demo model of the repository this folder is in, or the one KRAIT_TEST_MODEL names
        # (tools/test_conan.sh runs a copy of this folder); none: only the version check runs.
        model = os.environ.get("KRAIT_TEST_MODEL") or os.path.join(self.source_folder, "..", "..", "models",
                                                                    "mamba-demo")
        model_arg = f' "{os.path.abspath(model)}"' if os.path.isdir(model) else ""
        for exe in ("test_package_c", "test_package_cpp"):
            self.run(os.path.join(self.cpp.build.bindir, exe) + model_arg, env="conanrun")
