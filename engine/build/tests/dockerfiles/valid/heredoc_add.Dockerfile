FROM alpine
ADD <<EOF /hello
hello
EOF
