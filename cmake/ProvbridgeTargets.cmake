# Per-target settings shared by every provbridge target; nothing here touches global flags.
function(provbridge_target_defaults target)
  target_compile_features(${target} PUBLIC cxx_std_20)
  set_target_properties(${target} PROPERTIES CXX_EXTENSIONS OFF)
  target_compile_options(${target} PRIVATE
    $<$<CXX_COMPILER_ID:GNU,Clang>:-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Werror=return-type>)
  if(PROVBRIDGE_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=address,undefined -fno-omit-frame-pointer)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  endif()
endfunction()

# One library per top-level folder: provbridge_<name>, aliased provbridge::<name>.
function(provbridge_library name)
  file(GLOB sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/src/*.cpp)
  add_library(provbridge_${name} STATIC ${sources})
  add_library(provbridge::${name} ALIAS provbridge_${name})
  target_include_directories(provbridge_${name} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
  provbridge_target_defaults(provbridge_${name})
endfunction()

# Compiles the files matching `pattern` in `dir` into a library as string constants (so the binary
# needs no install paths): `const EmbeddedFile symbol[]` and `symbolCount` in `namespace`, each
# {key, text} with key the file's stem (KEY stem) or whole name (KEY name).
function(provbridge_embed_files target dir pattern namespace symbol key)
  file(GLOB files CONFIGURE_DEPENDS ${dir}/${pattern})
  set(out ${CMAKE_CURRENT_BINARY_DIR}/embedded_${symbol}.cpp)
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out} -DDIR=${dir} -DPATTERN=${pattern} -DNAMESPACE=${namespace}
            -DSYMBOL=${symbol} -DKEY=${key} -P ${PROJECT_SOURCE_DIR}/cmake/EmbedFiles.cmake
    DEPENDS ${files} ${PROJECT_SOURCE_DIR}/cmake/EmbedFiles.cmake
    COMMENT "Embedding ${dir}/${pattern}")
  target_sources(${target} PRIVATE ${out})
endfunction()
