// classify.cpp — image classification in C++17.
//
//   usage: krait_sample_cpp_classify MODEL_DIR IMAGE...
//   e.g.   krait_sample_cpp_classify models/vit-digits models/samples/digit_*.png
//
// Loads an image classifier (ViT, MambaVision, or an ONNX file) and prints the
// three most probable classes of each picture. classify_files() decodes and
// preprocesses the files as the model's configuration says and runs them
// through the model together; the results own their label strings.
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "krait/krait.hpp"

int main(int argc, char** argv) {
    if (argc < 3) {
        std::cerr << "usage: " << argv[0] << " MODEL_DIR IMAGE...\n";
        return 2;
    }
    const std::vector<std::string> paths(argv + 2, argv + argc);

    try {
        const krait::Model model = krait::Model::load(argv[1]);
        const krait_model_info info = model.info();
        if (info.kind != KRAIT_MODEL_CLASSIFIER) {
            std::cerr << argv[1] << " is a " << info.architecture << " model, not an image classifier\n";
            return 1;
        }
        std::cout << argv[1] << ": " << info.architecture << ", labels";
        for (const std::string& label : model.labels()) std::cout << " " << label;
        std::cout << "\n";

        krait::Session session(model);
        const krait::Classifications results = session.classify_files(paths, /*top_k=*/3);
        for (size_t i = 0; i < paths.size(); ++i) {  // one list per image, in input order
            std::cout << paths[i] << ":";
            for (const krait::Classification& c : results[i]) {  // most probable first
                char probability[16];
                std::snprintf(probability, sizeof probability, "%.3f", c.probability);
                std::cout << "  " << c.label << " " << probability;
            }
            std::cout << "\n";
        }
        return 0;
    } catch (const krait::Exception& e) {
        std::cerr << "krait: " << e.what() << "\n";
        return 1;
    }
}
