# Chat template tests (label "text"). Golden-based tests skip with a message while tests/fixtures/templates/*.json
# are absent (scripts/fixtures/make_template_fixtures.py writes them).
foreach(unit jinja_features jinja_errors jinja_provenance chat_template_goldens chat_template_loading)
  vlm_add_test(NAME test_${unit} SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_${unit}.cpp LIBS vlm_base LABELS text)
endforeach()
