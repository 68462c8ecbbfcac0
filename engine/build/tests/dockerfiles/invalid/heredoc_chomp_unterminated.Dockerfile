FROM alpine
COPY <<-END /x
	data
