# vlm tokenize / template against the reference: ids from tests/fixtures/tokenizers/qwen2/golden.json (made by HF
# tokenizers), template text from tests/fixtures/templates/qwen2_vl.json (made by transformers).
file(READ ${FIX}/tokenizers/strings.json strings)
file(READ ${FIX}/tokenizers/qwen2/golden.json golden)
string(JSON text GET "${strings}" strings 0)
string(JSON n LENGTH "${golden}" cases 0 ids)
set(expected "")
math(EXPR last "${n} - 1")
foreach(i RANGE ${last})
  string(JSON id GET "${golden}" cases 0 ids ${i})
  list(APPEND expected ${id})
endforeach()
list(JOIN expected " " expected)
file(WRITE ${WORK}/in.txt "${text}")
execute_process(COMMAND ${VLM} tokenize --model ${FIX}/tokenizers/qwen2 INPUT_FILE ${WORK}/in.txt
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT rc EQUAL 0 OR NOT out STREQUAL expected)
  message(FATAL_ERROR "vlm tokenize: exit ${rc}\n got: ${out}\nwant: ${expected}\n${err}")
endif()
# --decode turns the ids back into the text.
file(WRITE ${WORK}/ids.txt "${expected}")
execute_process(COMMAND ${VLM} tokenize --model ${FIX}/tokenizers/qwen2 --decode INPUT_FILE ${WORK}/ids.txt
                RESULT_VARIABLE rc OUTPUT_VARIABLE out OUTPUT_STRIP_TRAILING_WHITESPACE)
string(JSON want GET "${golden}" cases 0 decode)
if(NOT out STREQUAL want)
  message(FATAL_ERROR "vlm tokenize --decode: got '${out}', want '${want}'")
endif()
# A malformed ids file is a user error naming the input.
file(WRITE ${WORK}/bad.txt "12 abc")
execute_process(COMMAND ${VLM} tokenize --model ${FIX}/tokenizers/qwen2 --decode INPUT_FILE ${WORK}/bad.txt
                RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 1 OR NOT err MATCHES "not a token id")
  message(FATAL_ERROR "vlm tokenize --decode on bad ids: exit ${rc}: ${err}")
endif()

# vlm template renders the recorded Qwen2-VL template as transformers did (tests/fixtures/templates/qwen2_vl.json).
file(READ ${FIX}/templates/qwen2_vl.json cases)
string(JSON messages GET "${cases}" cases 1 messages)
string(JSON expected GET "${cases}" cases 1 expected)
set(model ${WORK}/template-model)
file(MAKE_DIRECTORY ${model})
file(COPY ${FIX}/tokenizers/qwen2/tokenizer.json DESTINATION ${model})
configure_file(${FIX}/templates/qwen2_vl.jinja ${model}/chat_template.jinja COPYONLY)
file(WRITE ${WORK}/messages.json "${messages}")
execute_process(COMMAND ${VLM} template --model ${model} --messages ${WORK}/messages.json --add-generation-prompt
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT out STREQUAL expected)
  message(FATAL_ERROR "vlm template: exit ${rc}\n got: [${out}]\nwant: [${expected}]\n${err}")
endif()
