// The C++ layer (krait.hpp, C++17) from the Conan package: with a model directory as argument,
// generates a few tokens greedily and prints them.
#include <iostream>
#include <string_view>

#include <krait/krait.hpp>

int main(int argc, char** argv) {
    try {
        krait::check_version();
        if (argc < 2) {
            std::cout << "test_package_cpp: libkrait " << krait::version_string() << " (no model given)\n";
            return 0;
        }
        const krait::Model model = krait::Model::load(argv[1]);
        krait::Session session(model);
        krait::GenerateOptions options;
        options.max_new_tokens = 12;
        options.sampling.temperature = 0.0f;
        std::cout << "test_package_cpp: This module provides";
        session.generate(model.tokenizer().encode("This module provides"), options, [](int32_t, std::string_view p) {
            std::cout << p;
            return false;
        });
        std::cout << "\n";
        return 0;
    } catch (const krait::Exception& e) {
        std::cerr << "test_package_cpp: " << e.what() << "\n";
        return 1;
    }
}
