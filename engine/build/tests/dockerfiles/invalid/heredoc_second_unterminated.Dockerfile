FROM alpine
RUN <<EOF
EOF
RUN ["a"] <<EOF
