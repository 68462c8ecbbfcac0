# top comment

   # indented comment
FROM alpine

# between
RUN true # not a comment
