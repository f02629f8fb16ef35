# The README demo, shortened (scripts/demo/demo_smoke.sh): a LoRA fine-tune of the bundled model on a task it
# was not trained for, on the CPU, must raise held-out exact-match accuracy. Skipped (exit 77) while the bundled model
# folder (models/tiny-qwen2-vl-shapes) is absent.
add_test(NAME cli.demo_smoke
         COMMAND ${PROJECT_SOURCE_DIR}/scripts/demo/demo_smoke.sh ${VLM} ${PROJECT_SOURCE_DIR}/models/tiny-qwen2-vl-shapes
                 ${CMAKE_CURRENT_BINARY_DIR}/demo_smoke)
# RUN_SERIAL: it trains on every core, and its time is part of what it shows.
set_tests_properties(cli.demo_smoke PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600 RUN_SERIAL TRUE LABELS "cli;demo")
